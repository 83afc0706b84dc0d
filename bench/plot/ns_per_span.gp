# ns per span per system (wall time on the application thread, and application CPU per span).
# gnuplot -e "data='DIR'; out='DIR'" ns_per_span.gp   (bench/run-all.sh does this)
set terminal pngcairo size 900,540 noenhanced font ",11"
set output out.'/ns_per_span.png'
set datafile missing '?'
set title 'Host cost of one span (median, lower is better)'
set ylabel 'ns per span (log scale)'
set logscale y
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key top left
set grid ytics
plot data.'/ns_per_span.dat' using 2:xtic(1) title 'wall ns / span (app thread)', \
     '' using 3 title 'app CPU ns / span (getrusage)'
