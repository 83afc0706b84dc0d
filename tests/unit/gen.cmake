# difftrace-gen: the CSV reader and learned topology alone (no libdifftrace), and the generator core
# run against a daemon-less libdifftrace.
dft_unit_test(test_gen_csv SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_gen_csv.c LIBS dft_gen_model)
dft_unit_test(test_gen_model SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_gen_model.c LIBS dft_gen_model)
dft_unit_test(test_gen_workload SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_gen_workload.c LIBS dft_gen_core)
dft_unit_test(test_gen_delay SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_gen_delay.c LIBS dft_gen_core)
foreach(t test_gen_csv test_gen_model)
  target_compile_definitions(${t} PRIVATE DFT_GEN_SAMPLE_CSV="${PROJECT_SOURCE_DIR}/tests/data/alibaba_sample.csv")
endforeach()
