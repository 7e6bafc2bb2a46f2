/* Each subcommand is foo_main(argc, argv) in its own file; main.c dispatches through a table. */
#ifndef PORTHOLE_SUBCOMMANDS_H
#define PORTHOLE_SUBCOMMANDS_H

extern const char *prog_name;

int genkey_main(int argc, char *argv[]);
int genpsk_main(int argc, char *argv[]);
int pubkey_main(int argc, char *argv[]);
int version_main(int argc, char *argv[]);
int wg_go_main(int argc, char *argv[]);
int up_main(int argc, char *argv[]);
int check_main(int argc, char *argv[]);
int init_main(int argc, char *argv[]);
int demo_main(int argc, char *argv[]);
int reload_main(int argc, char *argv[]);
int show_main(int argc, char *argv[]);

#endif
