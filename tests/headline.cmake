# tests/headline.cmake - the headline's checks: the simulator is deterministic for a seed (CLI), and
# the simulator agrees with a real `gpulet serve --policy` run on this CPU (bench/headline/simreal.sh).
add_test(NAME headline_sim_determinism COMMAND bash ${GL_TEST_SCRIPTS}/headline/sim_determinism.sh ${GL_BIN})
set_tests_properties(headline_sim_determinism PROPERTIES LABELS "e2e" TIMEOUT 120)
# Simulator vs real on cpu-small (3 LeNets + MobileNetV2 on 2 cores, policy gpulet, 12 s at the
# scenario's rates, profile measured first, ~40 s in all): per model SLO attainment within 10 pp,
# served rate and overall goodput within 10 %. At this load both sides should meet the SLO
# almost always, so the check catches a server that drops, rejects or delays what the simulator
# says it can serve, or a plan the server does not follow; it does not validate tail latency
# (p99 is reported, not asserted: HTTP and other processes on the 2 shared cores add ms that the
# profile does not model). It skips (77) instead of judging when the machine is busy: load
# average above 2 x cores before the run, or loadgen reporting that it could not keep its own send
# schedule (client-limited); on this session's shared box (load 8-11) lenet's p50 was 30-850 ms
# for 0.02 ms of compute, under the old static split as under the plan. RUN_SERIAL: no other test
# beside it. Label "slow": exclude with `ctest -LE slow`. Skips until serve --policy and loadgen exist.
add_test(NAME headline_sim_vs_real
  COMMAND bash ${CMAKE_SOURCE_DIR}/bench/headline/simreal.sh ${GL_BIN} ${CMAKE_BINARY_DIR}/simreal
          --duration 12 --warmup 2 --check 10)
set_tests_properties(headline_sim_vs_real PROPERTIES LABELS "e2e;slow" TIMEOUT 240 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE
  ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
# fine at low rates on the CPU mix: a shared residual's zero-slack duty no longer breaks under a
# neighbour's interference (src/sched/sched_fine.c fit_device)
add_test(NAME headline_fine_low_rate COMMAND bash ${GL_TEST_SCRIPTS}/headline/fine_low_rate.sh ${GL_BIN} ${CMAKE_SOURCE_DIR})
set_tests_properties(headline_fine_low_rate PROPERTIES LABELS "e2e" TIMEOUT 60)
