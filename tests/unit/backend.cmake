# difftrace-collector units: each links the collector's core library.
dft_unit_test(test_dedup SOURCES unit/test_dedup.c LIBS dft_backend_core Threads::Threads)
dft_unit_test(test_otlp_json SOURCES unit/test_otlp_json.c LIBS dft_backend_core)
dft_unit_test(test_store SOURCES unit/test_store.c LIBS dft_backend_core)
dft_unit_test(test_batch_decode SOURCES unit/test_batch_decode.c LIBS dft_backend_core)
dft_unit_test(test_reconstruct SOURCES unit/test_reconstruct.c LIBS dft_backend_core)
dft_unit_test(test_rebuild SOURCES unit/test_rebuild.c LIBS dft_rebuild)
dft_unit_test(test_ch_rowbinary SOURCES unit/test_ch_rowbinary.c LIBS dft_ch)
dft_unit_test(test_profiles SOURCES unit/test_profiles.c LIBS dft_backend_core)
