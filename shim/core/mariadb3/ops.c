/* The client layer for MariaDB Connector/C 3.3 (libmariadb.so.3): its ops table, and the
 * check that the loaded library is that version. The files of this directory are the only
 * ones that know the MYSQL struct's internals (see layout.h). */
#include "layout.h"
#include "poolshim/log.h"
#include "poolshim/real.h"

static const ps_client_ops mariadb3_ops = {
    .name = "MariaDB Connector/C 3.3",
    .unpoolable_before = mdb_unpoolable_before,
    .build_key = mdb_build_key,
    .unpoolable_after = mdb_unpoolable_after,
    .record = mdb_record,
    .free_facts = mdb_free_facts,
    .transport = mdb_transport,
    .validate = mdb_validate,
    .reauthenticate = mdb_reauthenticate,
    .input_pending = mdb_input_pending,
    .unreachable = mdb_unreachable,
    .adopt = mdb_adopt,
    .unparkable = mdb_unparkable,
    .reset = mdb_reset,
    .settle = mdb_settle,
    .detach = mdb_detach,
    .outlives_library_end = mdb_outlives_library_end,
    .close = mdb_close,
    .abandon = mdb_abandon,
    .mute = mdb_mute,
    .close_frees = mdb_close_frees,
    .unconnected = mdb_unconnected,
    .set_error = mdb_set_error,
    .fail = mdb_fail,
    .server_full = mdb_server_full,
    .track = mdb_track,
    .unreapable = mdb_unreapable,
    .variables_replayable = mdb_variables_replayable,
    .read_values = mdb_read_values,
    .save_results = mdb_save_results,
    .husk = mdb_husk,
    .renew = mdb_renew,
    .answer_autocommit = mdb_answer_autocommit,
    .sync = mdb_sync,
    .answer_select_db = mdb_answer_select_db,
    .answer_charset = mdb_answer_charset,
    .reconnects = mdb_reconnects,
    .close_husk = mdb_close_husk,
    .connect_parked = mdb_connect_parked,
    .server_limits = mdb_server_limits,
    .end_open_call = mdb_end_open_call,
};

const ps_client_ops *ps_client_mariadb3(const ps_call_hooks *hooks)
{
    if (!ps_real_mariadb_get_infov)
        return NULL;
    unsigned long v = ps_real_mysql_get_client_version();
    if (v / 100 != 303) {
        ps_warn(NULL,
                "libmariadb %lu.%lu.%lu is not a supported version (3.3.x); "
                "passing everything through",
                v / 10000, v / 100 % 100, v % 100);
        return NULL;
    }
    mdb_set_call_hooks(hooks);
    return &mariadb3_ops;
}
