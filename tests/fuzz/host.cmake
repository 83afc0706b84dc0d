# libdifftrace's parsers of request headers (traceparent, tracestate with the hop entry).
dft_fuzz_target(fuzz_tracecontext SOURCES fuzz_tracecontext.c LIBS difftrace_static Threads::Threads)
target_include_directories(fuzz_tracecontext PRIVATE ${PROJECT_SOURCE_DIR}/shared/include)
