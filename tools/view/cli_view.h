/* SPDX-License-Identifier: MIT */
/* The CLI's analysis commands: critical-path, view, serve. Each returns the process exit code
 * (0 ok, 1 runtime error, 2 usage error) and takes argv from the command's name on. */
#ifndef DFT_CLI_VIEW_H
#define DFT_CLI_VIEW_H

int dft_cli_critical_path(int argc, char **argv);
int dft_cli_view(int argc, char **argv);
int dft_cli_serve(int argc, char **argv);

#endif /* DFT_CLI_VIEW_H */
