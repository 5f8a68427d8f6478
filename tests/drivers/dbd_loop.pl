#!/usr/bin/perl
# dbd_loop.pl N [--tcp] [--leak]: a legacy Perl DBI + DBD::mysql loop (DBD::MariaDB when
# DBD_LOOP_DRIVER=MariaDB, as dbd_mariadb_loop.pl sets it). Each iteration connects as the app
# user (socket PSTEST_SOCKET, or PSTEST_HOST:PSTEST_PORT with --tcp), runs
# SELECT CONNECTION_ID() and SELECT COUNT(*) FROM items, and disconnects.
# With --leak the handle is never disconnected (kept referenced): the leak legacy code has.
# Prints iterations, errors, distinct_ids (distinct CONNECTION_ID() values) and, on errors,
# first_error; exits 1 if any iteration failed.
use strict;
use warnings;
use DBI;

my ($n, $tcp, $leak) = (100, 0, 0);
my @leaked;
for my $arg (@ARGV) {
    if ($arg eq '--tcp') { $tcp = 1 }
    elsif ($arg eq '--leak') { $leak = 1 }
    elsif ($arg =~ /^\d+$/) { $n = $arg }
    else { print "error=0: usage: dbd_loop.pl N [--tcp] [--leak]\n"; exit 1 }
}
for my $var (qw(PSTEST_USER PSTEST_PASSWORD PSTEST_DB), $tcp ? qw(PSTEST_HOST PSTEST_PORT) : 'PSTEST_SOCKET') {
    if (!$ENV{$var}) { print "error=0: $var not set\n"; exit 1 }
}
my $driver = $ENV{DBD_LOOP_DRIVER} // 'mysql';
my $dsn = "DBI:$driver:database=$ENV{PSTEST_DB};"
    . ($tcp ? "host=$ENV{PSTEST_HOST};port=$ENV{PSTEST_PORT}" : lc($driver) . "_socket=$ENV{PSTEST_SOCKET}");

my ($errors, $first_error, %ids) = (0, undef);
for (1 .. $n) {
    my $ok = eval {
        my $dbh = DBI->connect($dsn, $ENV{PSTEST_USER}, $ENV{PSTEST_PASSWORD},
                               { RaiseError => 1, PrintError => 0 });
        my ($id) = $dbh->selectrow_array('SELECT CONNECTION_ID()');
        $dbh->selectrow_array('SELECT COUNT(*) FROM items');
        $ids{$id} = 1;
        if ($leak) { push @leaked, $dbh } else { $dbh->disconnect }
        1;
    };
    next if $ok;
    $errors++;
    ($first_error //= ($DBI::err // 0) . ": " . ($DBI::errstr // $@)) =~ s/\n/ /g;
}
print "iterations=$n\nerrors=$errors\ndistinct_ids=", scalar(keys %ids), "\n";
print "first_error=$first_error\nerror=$first_error\n" if $errors;
exit($errors ? 1 : 0);
