# The collector's BATCH payload path (decode, validation, what a valid batch is used for).
dft_fuzz_target(fuzz_batch_decode SOURCES fuzz_batch_decode.c LIBS dft_backend_core)
