#!/bin/sh
# Entrypoint of the example webapp image: busybox httpd in the foreground on port 8080.
# A shell that is PID 1 ignores the signals it does not trap, so it traps them and exits 0:
# `aws ecs stop-task` then stops the container at once instead of after the kill timeout.
pid=
stop() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    exit 0
}
trap stop TERM INT
echo "webapp: serving /www on port 8080"
httpd -f -v -p 8080 -h /www &
pid=$!
wait "$pid"
