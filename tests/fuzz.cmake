# tests/fuzz.cmake - replays every fuzz target's regression inputs and seeds (fuzz/replay.c runs a
# target's LLVMFuzzerTestOneInput without libFuzzer), so an input a fuzzer once broke the parser
# with is checked on every run, under ASan+UBSan in CI. Regression inputs: fuzz/corpus-regress/<target>/;
# seeds (valid inputs, so the accepting path is replayed too): fuzz/seeds/<target>/ and real files.
set(GL_REGRESS ${CMAKE_SOURCE_DIR}/fuzz/corpus-regress)
set(GL_SEEDS ${CMAKE_SOURCE_DIR}/fuzz/seeds)
# Paths that do not exist are left out (a target whose fuzzing found nothing has no regression
# folder: git keeps no empty folders); a fresh configure picks up a folder added later.
function(gl_add_fuzz_replay target)
  set(paths)
  foreach(p ${ARGN})
    if(EXISTS ${p})
      list(APPEND paths ${p})
    endif()
  endforeach()
  add_executable(replay_${target} ${CMAKE_SOURCE_DIR}/fuzz/replay.c ${CMAKE_SOURCE_DIR}/fuzz/${target}.c)
  target_include_directories(replay_${target} PRIVATE ${CMAKE_SOURCE_DIR})
  target_link_libraries(replay_${target} PRIVATE gl)
  add_test(NAME fuzz_replay_${target} COMMAND replay_${target} ${paths})
  set_tests_properties(fuzz_replay_${target} PROPERTIES LABELS "unit;fuzz" TIMEOUT 120
    ENVIRONMENT "OMP_NUM_THREADS=1;ASAN_OPTIONS=detect_leaks=1")
endfunction()
gl_add_fuzz_replay(fuzz_kserve ${CMAKE_SOURCE_DIR}/tests/serve/corpus ${GL_REGRESS}/fuzz_kserve)
gl_add_fuzz_replay(fuzz_onnx ${CMAKE_SOURCE_DIR}/tests/onnx/corpus)
gl_add_fuzz_replay(fuzz_config ${GL_SEEDS}/fuzz_config ${GL_REGRESS}/fuzz_config)
gl_add_fuzz_replay(fuzz_profile ${CMAKE_SOURCE_DIR}/bench/results/profile-cpu-20261125.json ${GL_REGRESS}/fuzz_profile)
gl_add_fuzz_replay(fuzz_scenario ${CMAKE_SOURCE_DIR}/scenarios ${GL_REGRESS}/fuzz_scenario)
gl_add_fuzz_replay(fuzz_trace ${GL_SEEDS}/fuzz_trace ${GL_REGRESS}/fuzz_trace)
gl_add_fuzz_replay(fuzz_http ${GL_SEEDS}/fuzz_http)
