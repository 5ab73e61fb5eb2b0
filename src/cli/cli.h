/* cli/cli.h - the gpulet command line: one file per command (cmd_<name>.c), one table in main.c. */
#ifndef GL_CLI_CLI_H
#define GL_CLI_CLI_H

typedef int (*gl_cmd_fn)(int argc, char **argv); /* argv[0] is the command name; returns exit code */

int gl_cmd_run(int argc, char **argv);
int gl_cmd_doctor(int argc, char **argv);
int gl_cmd_check_onnx(int argc, char **argv);
int gl_cmd_zoo(int argc, char **argv);
int gl_cmd_plan(int argc, char **argv);
int gl_cmd_simulate(int argc, char **argv);
int gl_cmd_profile_analytic(int argc, char **argv);
int gl_cmd_profile_measure(int argc, char **argv); /* cmd_profile.c; profile_analytic hands over to it */
int gl_cmd_serve(int argc, char **argv);
int gl_cmd_gpulets(int argc, char **argv);
int gl_cmd_mps_worker(int argc, char **argv);
int gl_cmd_loadgen(int argc, char **argv);
int gl_cmd_demo(int argc, char **argv);

/* Opens the backend a --device value names (cpu, cuda, cuda:N) into *out. Returns 0, or the
 * command's exit code (1 error, 2 usage) having printed why. */
struct gl_backend;
int gl_cli_backend(const char *cmd, const char *device, struct gl_backend **out);

/* Prints "gpulet: <msg>" for the current error (gl_errmsg) to stderr; returns 1. */
int gl_cli_fail(const char *what);

#endif
