# NIC stage throughput per core against [batch] spans (dft-bench-nic --batch-spans, every span kept).
set terminal pngcairo size 900,540 noenhanced font ",11"
stages = system('cat '.data.'/batch_stages.txt 2>/dev/null')
if (strlen(stages) == 0) { print 'no batch-size data'; exit }
set output out.'/sweep_batch_spans.png'
set title 'difftrace-nic per core against spans per batch (4 rings, all kept)'
set xlabel 'spans per batch'
set ylabel 'M spans/s (log scale)'
set logscale x 4
set logscale y
set grid
set key outside right
set datafile missing '?'
# transport: CPU of the pipeline thread; dashed: the same without its waits for the sink's ACKs
plot for [s in stages] data.'/batch_'.s.'.dat' using 1:2 with linespoints lw 2 pt 7 title s, \
     data.'/batch_transport.dat' using 1:3 with linespoints dt 2 lw 1 pt 6 lc 'gray40' title 'transport without ACK waits'
