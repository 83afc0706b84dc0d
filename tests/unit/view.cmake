# The analysis views: critical path and slack on hand-made traces (labels unit and view).
dft_unit_test(test_critical_path SOURCES unit/test_critical_path.c LIBS dft_view)
set_tests_properties(test_critical_path PROPERTIES LABELS "unit;view")
dft_unit_test(test_view_text SOURCES unit/test_view_text.c LIBS dft_view)
set_tests_properties(test_view_text PROPERTIES LABELS "unit;view")
