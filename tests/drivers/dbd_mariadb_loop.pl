#!/usr/bin/perl
# dbd_mariadb_loop.pl N [--tcp] [--leak]: dbd_loop.pl's loop with DBI + DBD::MariaDB.
# DBD::MariaDB passes CLIENT_REMEMBER_OPTIONS on every connect, and when its last handle
# disconnects it calls mysql_server_end (so every iteration of the plain loop ends the library
# and the next one initialises it again).
use strict;
use warnings;
use FindBin;

$ENV{DBD_LOOP_DRIVER} = 'MariaDB';
do "$FindBin::Bin/dbd_loop.pl";
die $@ if $@;
