# NIC stage throughput per core against the number of rings (dft-bench-nic, mmap ingest).
set terminal pngcairo size 900,540 noenhanced font ",11"
stages = system('cat '.data.'/rings_stages.txt 2>/dev/null')
if (strlen(stages) == 0) { print 'no rings data'; exit }
set output out.'/sweep_rings.png'
set title 'difftrace-nic per core against rings (each stage includes the ones before)'
set xlabel 'rings in the region'
set ylabel 'M spans/s (log scale)'
set logscale x 2
set logscale y
set grid
set key outside right
plot for [s in stages] data.'/rings_'.s.'.dat' using 1:2 with linespoints lw 2 pt 7 title s
