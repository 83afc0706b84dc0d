# difftrace-nic units and the shared slot validator. The nic tests link dft_nic_core (everything
# but main.c), so they exercise the daemon's real modules without EAL.
dft_unit_test(test_validate SOURCES unit/test_validate.c LIBS dft_shared)
dft_unit_test(test_frame SOURCES unit/test_frame.c LIBS dft_shared)
dft_unit_test(test_filter SOURCES unit/test_filter.c LIBS dft_nic_core)
dft_unit_test(test_batch SOURCES unit/test_batch.c LIBS dft_nic_core)
dft_unit_test(test_rules SOURCES unit/test_rules.c LIBS dft_nic_core)
dft_unit_test(test_profiler SOURCES unit/test_profiler.c LIBS dft_nic_core)
dft_unit_test(test_hold SOURCES unit/test_hold.c LIBS dft_nic_core)
dft_unit_test(test_children SOURCES unit/test_children.c LIBS dft_nic_core)
dft_unit_test(test_nic_config SOURCES unit/test_nic_config.c LIBS dft_nic_core)
target_compile_definitions(test_nic_config PRIVATE DFT_FILTER_DOC="${PROJECT_SOURCE_DIR}/docs/filter.md")
dft_unit_test(test_reg_server SOURCES unit/test_reg_server.c LIBS dft_nic_core)
dft_unit_test(test_nic_claims SOURCES unit/test_nic_claims.c LIBS dft_nic_core)
# the worker on a synthetic region (bench/nic/synth.c writes the slots as libdifftrace does); EAL
# with --no-huge for the rte_ring hand-offs
dft_unit_test(test_worker SOURCES unit/test_worker.c ${PROJECT_SOURCE_DIR}/bench/nic/synth.c LIBS dft_nic_core)
target_include_directories(test_worker PRIVATE ${PROJECT_SOURCE_DIR}/bench/nic)
# also a hostile-peer test: lying regions (garbage slots, impossible heads, counters, span times)
set_tests_properties(test_worker PROPERTIES LABELS "unit;security")
# each ingest backend as an instance with its region view (mmap here; rdma-read in the rxe VM tests)
dft_unit_test(test_ingest SOURCES unit/test_ingest.c ${PROJECT_SOURCE_DIR}/bench/nic/synth.c LIBS dft_nic_core)
target_include_directories(test_ingest PRIVATE ${PROJECT_SOURCE_DIR}/bench/nic)
# the dmadev backend's copies run ahead of the worker (a prefetch per ring): DPDK's software DMA
# engine under EAL --no-huge
dft_unit_test(test_ingest_dmadev SOURCES unit/test_ingest_dmadev.c ${PROJECT_SOURCE_DIR}/bench/nic/synth.c LIBS dft_nic_core)
target_include_directories(test_ingest_dmadev PRIVATE ${PROJECT_SOURCE_DIR}/bench/nic)
