# NIC-side throughput per stage (cumulative stages), mmap and dmadev ingest, 1/4/16 rings.
set terminal pngcairo size 1000,560 noenhanced font ",11"
set output out.'/nic_throughput.png'
set datafile missing '?'
set title 'difftrace-nic throughput per core, by stage (each stage includes the ones before)'
set ylabel 'M spans/s (log scale)'
set logscale y
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key top right
set grid ytics
plot data.'/nic_throughput.dat' using 2:xtic(1) title 'mmap, 1 ring', \
     '' using 3 title 'mmap, 4 rings', '' using 4 title 'mmap, 16 rings', \
     '' using 5 title 'dmadev, 1 ring', '' using 6 title 'dmadev, 4 rings', '' using 7 title 'dmadev, 16 rings'
