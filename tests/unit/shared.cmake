# Unit tests of code in shared/ that has no other owner.
dft_unit_test(test_hist SOURCES unit/test_hist.c LIBS dft_shared m)
dft_unit_test(test_hops SOURCES unit/test_hops.c LIBS dft_shared)
dft_unit_test(test_rdma_wire SOURCES unit/test_rdma_wire.c LIBS dft_shared)
dft_unit_test(test_reg_wire SOURCES unit/test_reg_wire.c LIBS dft_shared)
dft_unit_test(test_parse SOURCES unit/test_parse.c LIBS dft_shared)
# the SPSC ring both halves use (shared/include/dft/ring.h): a producer and a consumer thread
dft_unit_test(test_ring SOURCES unit/test_ring.c LIBS dft_shared Threads::Threads)
dft_unit_test(test_rdma_auth SOURCES unit/test_rdma_auth.c LIBS dft_rdma_auth)
