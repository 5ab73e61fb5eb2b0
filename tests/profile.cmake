# tests/profile.cmake - `gpulet profile --device cpu`: a tiny measured profile, resume, co-runs, bad arguments.
find_program(GL_PYTHON3 python3)
if(GL_PYTHON3)
  add_test(NAME profile_measure_checks COMMAND ${GL_TEST_SCRIPTS}/profile/measure_checks.sh $<TARGET_FILE:gpulet>)
  set_tests_properties(profile_measure_checks PROPERTIES LABELS "unit;profile" TIMEOUT 300
    ENVIRONMENT "OMP_NUM_THREADS=2;OMP_WAIT_POLICY=PASSIVE")
endif()
