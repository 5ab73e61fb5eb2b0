# tests/demo.cmake - `gpulet demo --quick`: models, repository, a server per policy driven by loadgen,
# the side-by-side table (a smoke test of the main job's last step; seconds).
add_test(NAME demo_quick
  COMMAND bash -c "rm -rf '${CMAKE_BINARY_DIR}/demo-quick' && '$<TARGET_FILE:gpulet>' demo --quick --cache-dir '${CMAKE_BINARY_DIR}/demo-quick' > '${CMAKE_BINARY_DIR}/demo-quick.out' 2>&1; rc=$?; cat '${CMAKE_BINARY_DIR}/demo-quick.out'; [ $rc = 0 ] && grep -q '^lenet1 ' '${CMAKE_BINARY_DIR}/demo-quick.out' && grep -q '^goodput (req/s within SLO) ' '${CMAKE_BINARY_DIR}/demo-quick.out' && grep -q 'status page: http://127.0.0.1:' '${CMAKE_BINARY_DIR}/demo-quick.out'")
set_tests_properties(demo_quick PROPERTIES LABELS e2e TIMEOUT 300
  ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
