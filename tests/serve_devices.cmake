# tests/serve_devices.cmake - several devices in `gpulet serve` (--devices cpu:2 planning, bad
# specs) and surviving a device failure (GPULET_FAULT_DEVICE: sanitizer/debug builds only).
add_test(NAME serve_devices
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/serve/devices.sh $<TARGET_FILE:gpulet> ${CMAKE_BINARY_DIR}/serve-devices)
set_tests_properties(serve_devices PROPERTIES LABELS e2e TIMEOUT 180 SKIP_RETURN_CODE 77
  ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
add_test(NAME serve_device_fault
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/serve/device_fault.sh $<TARGET_FILE:gpulet> ${CMAKE_BINARY_DIR}/serve-device-fault)
# also under ThreadSanitizer (label tsan: scripts/test.sh): executors failing a device while the
# control thread re-plans and HTTP threads submit
set_tests_properties(serve_device_fault PROPERTIES LABELS "e2e;tsan" TIMEOUT 180 SKIP_RETURN_CODE 77
  ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
