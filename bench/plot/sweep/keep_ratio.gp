# NIC stage throughput per core against the share of spans kept (dft-bench-nic --keep-ratio, 4 rings).
set terminal pngcairo size 900,540 noenhanced font ",11"
stages = system('cat '.data.'/keep_stages.txt 2>/dev/null')
if (strlen(stages) == 0) { print 'no keep-ratio data'; exit }
set output out.'/sweep_keep_ratio.png'
set title 'difftrace-nic per core against the share of spans kept (4 rings)'
set xlabel 'spans kept (the rest filtered)'
set ylabel 'M spans/s judged (log scale)'
set logscale y
set grid
set key outside right
set offsets 0.3, 0.3, 0, 0
plot for [s in stages] data.'/keep_'.s.'.dat' using 1:3:xtic(2) with linespoints lw 2 pt 7 \
     title (s eq 'batch' ? 'judge + batch' : s)
