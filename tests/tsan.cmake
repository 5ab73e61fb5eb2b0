# tests/tsan.cmake - the concurrency tests, labelled tsan: scripts/test.sh builds only their targets
# (listed in build-tsan/tsan-targets.txt) in build-tsan and runs `ctest -L "^tsan$"` there under
# ThreadSanitizer. Add a test here when it exercises threads (tests that do not exist yet in a
# checkout are skipped, so names may be listed before their test lands).
add_test(NAME serve_concurrent
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/serve/concurrent.sh $<TARGET_FILE:gpulet> ${CMAKE_BINARY_DIR}/serve-concurrent)
set_tests_properties(serve_concurrent PROPERTIES LABELS "e2e" TIMEOUT 300 SKIP_RETURN_CODE 77
  ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
# unit tests (tests/<part>/test_<thing>.c -> <part>_test_<thing>) that start threads
set(GL_TSAN_UNITS batch_test_batch part_test_part part_test_part_plan engine_test_plan_thread sim_test_sim_agg
    loadgen_test_run)  # loadgen: sender threads, progress counters, an in-process server
# script tests driving gpulet (serve) with concurrent clients, timing-independent
set(GL_TSAN_SCRIPTS serve_concurrent serve_replan serve_fault)
# slower under TSan (20-50 s each), so not in scripts/test.sh's run: cd build-tsan && ctest -L tsan_slow
# (profile_measure_checks found the co-run counters race in cmd_profile.c)
set(GL_TSAN_SLOW profile_measure_checks loadgen_e2e)  # (+ serve_priority, labelled in serve_web.cmake)
function(gl_tsan_label label)
  foreach(t ${ARGN})
    if(TEST ${t})
      get_test_property(${t} LABELS l)
      set_tests_properties(${t} PROPERTIES LABELS "${l};${label}")
    endif()
  endforeach()
endfunction()
gl_tsan_label(tsan ${GL_TSAN_UNITS} ${GL_TSAN_SCRIPTS})
gl_tsan_label(tsan_slow ${GL_TSAN_SLOW})
# the executables `ctest -L "^tsan$"` needs (units that exist here, and gpulet for the scripts)
set(tsan_targets gpulet)
foreach(t ${GL_TSAN_UNITS})
  if(TARGET ${t})
    list(APPEND tsan_targets ${t})
  endif()
endforeach()
list(JOIN tsan_targets " " tsan_targets)
file(WRITE ${CMAKE_BINARY_DIR}/tsan-targets.txt "${tsan_targets}\n")
