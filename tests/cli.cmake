# CLI checks: `gpulet run` on good and bad input; valgrind finds no leak in `gpulet run`.
add_test(NAME cli_run_checks COMMAND ${GL_TEST_SCRIPTS}/cli/run_checks.sh $<TARGET_FILE:gpulet>)
set_tests_properties(cli_run_checks PROPERTIES LABELS "unit;cli" TIMEOUT 300)

find_program(VALGRIND valgrind)
if(VALGRIND AND NOT GL_SANITIZE AND NOT GL_TSAN)
  add_test(NAME cli_run_valgrind
    COMMAND ${VALGRIND} --leak-check=full --errors-for-leak-kinds=definite,indirect
            --error-exitcode=9 --quiet
            $<TARGET_FILE:gpulet> run
            /usr/share/libonnx-testdata/data/pytorch-converted/test_Conv2d/model.onnx --iters 2 --warmup 1)
  set_tests_properties(cli_run_valgrind PROPERTIES LABELS "unit;cli;valgrind" TIMEOUT 600
    ENVIRONMENT "OMP_NUM_THREADS=2")
endif()

# Models the fuzzer found breaking inference, preparation or a run: a result or a clear error.
add_test(NAME engine_fuzz_corpus COMMAND ${GL_TEST_SCRIPTS}/engine/corpus.sh $<TARGET_FILE:gpulet>
         ${GL_TEST_SCRIPTS}/engine/corpus)
set_tests_properties(engine_fuzz_corpus PROPERTIES LABELS "unit;cli" TIMEOUT 300
  ENVIRONMENT "UBSAN_OPTIONS=halt_on_error=1;ASAN_OPTIONS=allocator_may_return_null=1")
