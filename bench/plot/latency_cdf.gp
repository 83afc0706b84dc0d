# Request latency CDF of the traced app (dft-bench-e2e), one line per system.
set terminal pngcairo size 900,540 noenhanced font ",11"
set output out.'/latency_cdf.png'
systems = system('cat '.data.'/cdf_systems.txt 2>/dev/null')
if (strlen(systems) == 0) { print 'no e2e CDF data'; exit }
set title system('cat '.data.'/cdf_title.txt')
set xlabel 'latency (us, log scale)'
set ylabel 'fraction of requests'
set logscale x
set yrange [0:1]
set key bottom right
set grid
plot for [s in systems] data.'/cdf_'.s.'.dat' using 1:2 with lines lw 2 title s
