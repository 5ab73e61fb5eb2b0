# tests/sched_cli.cmake - `gpulet plan|simulate|profile` end to end on the shipped scenarios.
add_test(NAME sched_cli_plan COMMAND ${GL_BIN} plan --profile analytic:rtx2080ti
         --scenario ${CMAKE_SOURCE_DIR}/scenarios/game.json --policy gpulet-int --devices 4)
add_test(NAME sched_cli_plan_json COMMAND ${GL_BIN} plan --profile analytic:h100
         --scenario ${CMAKE_SOURCE_DIR}/scenarios/scen1a.json --policy fine --devices 2 --json)
set_tests_properties(sched_cli_plan_json PROPERTIES PASS_REGULAR_EXPRESSION "\"format\": \"gpulet-plan\"")
add_test(NAME sched_cli_simulate COMMAND ${GL_BIN} simulate --profile analytic:rtx2080ti
         --scenario ${CMAKE_SOURCE_DIR}/scenarios/traffic.json --policy sbp --devices 4 --duration 3)
set_tests_properties(sched_cli_simulate PROPERTIES PASS_REGULAR_EXPRESSION "OK")
add_test(NAME sched_cli_bad_scenario COMMAND ${GL_BIN} plan --profile analytic:h100
         --scenario ${CMAKE_SOURCE_DIR}/CMakeLists.txt --policy gpulet)
set_tests_properties(sched_cli_bad_scenario PROPERTIES WILL_FAIL TRUE)
# an epoch's re-plan after a rate step on one model: incremental, and the diff only touches it
add_test(NAME sched_cli_plan_step COMMAND ${GL_BIN} plan --profile analytic:rtx2080ti
         --scenario ${CMAKE_SOURCE_DIR}/scenarios/scen1a.json --policy gpulet --devices 8 --step googlenet=1.5)
set_tests_properties(sched_cli_plan_step PROPERTIES PASS_REGULAR_EXPRESSION
                     "build dev [0-9]+ units [0-9]+: googlenet/b[0-9]+\n.*re-plan after googlenet x1.5: incremental, feasible")
add_test(NAME sched_cli_profile COMMAND ${GL_BIN} profile --analytic h100 -o ${CMAKE_BINARY_DIR}/h100-analytic.json)
set_tests_properties(sched_cli_plan sched_cli_plan_json sched_cli_simulate
                     sched_cli_bad_scenario sched_cli_profile sched_cli_plan_step PROPERTIES LABELS "e2e" TIMEOUT 120)
