# Per-span cost on the application against producer threads (dft-bench-host), one line per system.
# gnuplot -e "data='DIR'; out='DIR'" threads.gp   (bench/sweep.sh does this)
set terminal pngcairo size 1200,500 noenhanced font ",11"
systems = system('cat '.data.'/threads_systems.txt 2>/dev/null')
if (strlen(systems) == 0) { print 'no threads data'; exit }
set output out.'/sweep_threads.png'
set multiplot layout 1,2 title 'Host cost of one span against producer threads (all on the app CPU)'
set xlabel 'producer threads'
set logscale x 2
set logscale y
set grid
set key top left
set title 'wall ns per span on the app thread (median)'
set ylabel 'ns (log scale)'
plot for [s in systems] data.'/threads_'.s.'.dat' using 1:2 with linespoints lw 2 pt 7 title s
set title 'app CPU ns per span (whole process)'
plot for [s in systems] data.'/threads_'.s.'.dat' using 1:4 with linespoints lw 2 pt 7 title s
unset multiplot
