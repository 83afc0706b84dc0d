# difftrace-replay: the OTLP line parser and the hop synthesis (dft_replay_core, no daemon), and
# `difftrace eval` compiled from the CLI's source against a store the test builds.
dft_unit_test(test_replay_otlp SOURCES unit/test_replay_otlp.c LIBS dft_replay_core)
dft_unit_test(test_replay_hops SOURCES unit/test_replay_hops.c LIBS dft_replay_core)
dft_unit_test(test_eval SOURCES unit/test_eval.c ${PROJECT_SOURCE_DIR}/tools/cli_eval.c ${PROJECT_SOURCE_DIR}/tools/cli_eval_store.c
  LIBS dft_rebuild PkgConfig::SQLITE3 PkgConfig::JANSSON)
target_include_directories(test_eval PRIVATE ${PROJECT_SOURCE_DIR}/tools)
