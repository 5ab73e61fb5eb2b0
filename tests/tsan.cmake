# tests/tsan.cmake - the concurrency tests, labelled tsan: scripts/test.sh builds only their targets
# (listed in build-tsan/tsan-targets.txt) in build-tsan and runs
# `ctest -L "^tsan$"` there under ThreadSanitizer. Add a test here when it exercises threads.
add_test(NAME serve_concurrent
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/serve/concurrent.sh $<TARGET_FILE:gpulet> ${CMAKE_BINARY_DIR}/serve-concurrent)
set_tests_properties(serve_concurrent PROPERTIES LABELS "e2e;tsan" TIMEOUT 300 SKIP_RETURN_CODE 77
  ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
# unit tests (tests/<part>/test_<thing>.c -> <part>_test_<thing>) that start threads
set(GL_TSAN_UNITS batch_test_batch part_test_part part_test_part_plan engine_test_plan_thread sim_test_sim_agg)
list(APPEND GL_TSAN_UNITS loadgen_test_run)  # sender threads, progress counters, an in-process server
foreach(t ${GL_TSAN_UNITS})
  if(TEST ${t})
    get_test_property(${t} LABELS l)
    set_tests_properties(${t} PROPERTIES LABELS "${l};tsan")
  endif()
endforeach()
# the executables `ctest -L tsan` needs: scripts/test.sh reads this file from build-tsan
list(JOIN GL_TSAN_UNITS " " tsan_units)
file(WRITE ${CMAKE_BINARY_DIR}/tsan-targets.txt "gpulet ${tsan_units}\n")
# Slower under TSan (50 s: it measures models), so not in scripts/test.sh's run; it found the
# co-run counters race in cmd_profile.c. Run by hand: cd build-tsan && ctest -L tsan_slow
if(TEST profile_measure_checks)
  get_test_property(profile_measure_checks LABELS l)
  set_tests_properties(profile_measure_checks PROPERTIES LABELS "${l};tsan_slow")
endif()
