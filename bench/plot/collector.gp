# difftrace-collector ingest rate per configuration: wall clock, and per CPU second of the collector.
set terminal pngcairo size 900,500 noenhanced font ",11"
set output out.'/collector_throughput.png'
set datafile missing '?'
set title 'difftrace-collector ingest rate (median)'
set ylabel 'M spans/s'
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key top right
set grid ytics
set yrange [0:*]
plot data.'/collector.dat' using 2:xtic(1) title 'wall clock', '' using 3 title 'per CPU second of the collector'
