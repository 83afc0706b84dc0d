# The slot and continuation validators and name reading on arbitrary bytes laid out as a region.
dft_fuzz_target(fuzz_slot SOURCES fuzz_slot.c LIBS dft_nic_core)
