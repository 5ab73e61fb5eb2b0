# tests/part_doctor.cmake - `gpulet doctor` reports the CPU layout and handles a missing or stub CUDA driver.
add_test(NAME cli_doctor COMMAND ${GL_BIN} doctor)
set_tests_properties(cli_doctor PROPERTIES LABELS unit TIMEOUT 60
  ENVIRONMENT "GPULET_LIBCUDA=libcuda-not-here.so.1"
  PASS_REGULAR_EXPRESSION "partition +cpu-cores: [0-9]+ core.*cuda +no driver")
if(EXISTS /usr/local/cuda/lib/stubs/libcuda.so)
  add_test(NAME cli_doctor_stub_driver COMMAND ${GL_BIN} doctor)
  set_tests_properties(cli_doctor_stub_driver PROPERTIES LABELS unit TIMEOUT 60
    ENVIRONMENT "GPULET_LIBCUDA=/usr/local/cuda/lib/stubs/libcuda.so"
    PASS_REGULAR_EXPRESSION "cuInit failed.*CPU only")
endif()
