int gl_cmd_simulate(int argc, char **argv) { return 2; }
