# Request latency CDF at each offered rate (dft-bench-e2e), off / difftrace / host_reporting per panel.
set terminal pngcairo size 1400,480 noenhanced font ",11"
rates = system('cat '.data.'/cdf_rates.txt 2>/dev/null')
systems = system('cat '.data.'/cdf_systems.txt 2>/dev/null')
if (strlen(rates) == 0) { print 'no e2e CDF data'; exit }
set output out.'/sweep_e2e_cdf.png'
n = words(rates)
set multiplot layout 1,n title 'Request latency CDF with and without difftrace, by offered load'
set xlabel 'latency (us, log scale)'
set ylabel 'fraction of requests'
set logscale x
set yrange [0:1]
set grid
set key bottom right
do for [r in rates] {
  set title sprintf('%s req/s', r)
  plot for [s in systems] data.'/cdf_'.r.'_'.s.'.dat' using 1:2 with lines lw 2 title s
}
unset multiplot
