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
add_test(NAME sched_cli_profile COMMAND ${GL_BIN} profile --analytic h100 -o ${CMAKE_BINARY_DIR}/h100-analytic.json)
set_tests_properties(sched_cli_plan sched_cli_plan_json sched_cli_simulate
                     sched_cli_bad_scenario sched_cli_profile PROPERTIES LABELS "e2e" TIMEOUT 120)
