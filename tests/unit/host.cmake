# Host-side unit tests: traceparent parsing and the library itself (linked statically so the test
# can reach the region through dft__region()).
dft_unit_test(test_traceparent SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_traceparent.c LIBS difftrace)
foreach(t test_host_lib test_host_hops test_host_metrics test_host_reg_rdma)
  dft_unit_test(${t} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/${t}.c LIBS difftrace_static dft_shared Threads::Threads)
  target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/host/src)
endforeach()
