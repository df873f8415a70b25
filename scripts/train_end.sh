# How a `tapegrad train` run's last session ended, sourced by the scripts that train (main_job.sh,
# experiment_attn_activation.sh) and by tests/recipe_test.sh.
#
# train exits 0 also when a signal stopped it, saved: Ctrl-C and SIGTERM (which reach the script
# too, and its traps stop it), and those sent to train alone: a scheduler's SIGUSR1 warning, a soft
# CPU limit's SIGXCPU, its output's reader gone (SIGPIPE). A script that went on would translate,
# score or start the next run after a half-trained one.

# stopped_by_signal RUN: prints "stopped by signal N at step S" and succeeds when the last of
# RUN/train.log's end lines (done, nothing to do, stopped) is a stop by a signal; else fails,
# printing nothing (no log, or a run that ended, or whose resume ran to its end).
stopped_by_signal() {
    local ended
    # -a: a log with NUL bytes in it (what a crash of the machine can leave) is still read as text
    ended=$(grep -aE '^\[[^]]*\] (done: |nothing to do: |stopped by signal [0-9]+ )' "$1/train.log" 2>/dev/null |
        tail -n 1) || true
    case $ended in *"] stopped by signal "*) ;; *) return 1;; esac
    ended=${ended#*] }
    printf '%s\n' "${ended%%;*}"
}

# stop_if_stopped WHO RUN: when RUN's train stopped by a signal, says so as WHO and exits the script
# with 128 + the signal's number, as a shell does for a command a signal ended.
stop_if_stopped() {
    local stop sig
    stop=$(stopped_by_signal "$2") || return 0
    sig=${stop#stopped by signal } && sig=${sig%% *}
    echo "$1: train $stop; run the same command again to resume" >&2
    exit $(( 128 + sig ))
}
