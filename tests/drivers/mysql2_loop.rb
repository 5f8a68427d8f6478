#!/usr/bin/ruby
# mysql2_loop.rb N [--tcp] [--leak]: a legacy Ruby mysql2 loop.
#
# Each iteration connects as the app user (socket PSTEST_SOCKET, or PSTEST_HOST:PSTEST_PORT with
# --tcp), runs SELECT CONNECTION_ID() and SELECT COUNT(*) FROM items, and closes the client.
# mysql2 passes CLIENT_REMEMBER_OPTIONS on every connect (its default connect_flags), and
# connects into a MYSQL struct of its own (mysql_init on its own storage).
# With --leak the client is never closed (kept referenced, so neither Ruby's GC nor mysql2's
# automatic_close closes it): the leak legacy code has.
# Prints iterations, errors, distinct_ids (distinct CONNECTION_ID() values) and, on errors,
# first_error; exits 1 if any iteration failed.
require 'mysql2'

# Keyword arguments for Mysql2::Client.new from the PSTEST_* environment; nil (after printing
# the error line) when a variable is not set.
def connect_args(tcp)
  vars = %w[PSTEST_USER PSTEST_PASSWORD PSTEST_DB] + (tcp ? %w[PSTEST_HOST PSTEST_PORT] : %w[PSTEST_SOCKET])
  missing = vars.find { |v| ENV[v].nil? || ENV[v].empty? }
  if missing
    puts "error=0: #{missing} not set"
    return nil
  end
  args = { username: ENV['PSTEST_USER'], password: ENV['PSTEST_PASSWORD'], database: ENV['PSTEST_DB'] }
  if tcp
    args.merge(host: ENV['PSTEST_HOST'], port: Integer(ENV['PSTEST_PORT']))
  else
    args.merge(host: 'localhost', socket: ENV['PSTEST_SOCKET'])
  end
end

# Runs the loop and returns the exit code.
def main(argv)
  tcp = argv.include?('--tcp')
  leak = argv.include?('--leak')
  counts = argv - %w[--tcp --leak]
  if counts.size > 1 || (counts.size == 1 && counts[0] !~ /\A\d+\z/)
    puts 'error=0: usage: mysql2_loop.rb N [--tcp] [--leak]'
    return 1
  end
  n = counts.empty? ? 100 : Integer(counts[0])
  args = connect_args(tcp)
  return 1 unless args
  errors = 0
  first_error = nil
  ids = {}
  leaked = []
  n.times do
    begin
      client = Mysql2::Client.new(**args)
      ids[client.query('SELECT CONNECTION_ID() AS id').first['id']] = true
      client.query('SELECT COUNT(*) AS n FROM items').to_a
      if leak
        leaked << client
      else
        client.close
      end
    rescue Mysql2::Error => e
      errors += 1
      first_error ||= "#{e.error_number || 0}: #{e.message}".tr("\n", ' ')
    end
  end
  puts "iterations=#{n}\nerrors=#{errors}\ndistinct_ids=#{ids.size}"
  puts "first_error=#{first_error}\nerror=#{first_error}" if errors.positive?
  errors.positive? ? 1 : 0
end

exit(main(ARGV))
