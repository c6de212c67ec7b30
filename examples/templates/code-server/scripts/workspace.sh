#!/bin/sh
# Host-side lifecycle of one `local` workspace, run by the template's local-exec provisioners.
#
#   workspace.sh prepare   create the workspace directory and its home
#   workspace.sh stage     stop leftovers of an earlier agent, write the agent's init script
#   workspace.sh launch    start the agent as a detached process (its own session)
#   workspace.sh stop      stop every process of the workspace: TERM, wait, then KILL
#   workspace.sh delete    stop, then remove the workspace directory (home included)
#
# Everything comes from the environment, never from the command line, so that paths with
# spaces or quotes are safe: WORKSPACE_DIR (always), HOME_DIR, STOP_TIMEOUT (seconds),
# AGENT_SHELL, AGENT_INIT_SCRIPT (stage), PORTAL_AGENT_TOKEN, AGENT_GIVE_UP_SECONDS (launch).
set -eu

die() {
	echo "workspace.sh: $*" >&2
	exit 1
}

[ "$#" -eq 1 ] || die "usage: workspace.sh prepare|stage|launch|stop|delete"
WORKSPACE_DIR=${WORKSPACE_DIR:-}
[ -n "$WORKSPACE_DIR" ] || die "WORKSPACE_DIR is not set"
# This script deletes WORKSPACE_DIR: accept nothing but <absolute data dir>/workspaces/<id>.
case "$WORKSPACE_DIR" in
/?*/workspaces/?*) ;;
*) die "refusing to manage '$WORKSPACE_DIR': not <data dir>/workspaces/<workspace id>" ;;
esac
case "${WORKSPACE_DIR##*/workspaces/}" in
*/* | . | ..) die "refusing to manage '$WORKSPACE_DIR': bad workspace id" ;;
esac
case "$WORKSPACE_DIR" in
*/../* | */./* | *//*) die "refusing to manage '$WORKSPACE_DIR': not a normalised path" ;;
esac

PID_FILE="$WORKSPACE_DIR/agent.pid"
LOG_FILE="$WORKSPACE_DIR/agent.log"
INIT_FILE="$WORKSPACE_DIR/agent-init"
# Every process the agent starts inherits this variable, whatever process group or session it
# ends up in (a terminal gets a session of its own), so `stop` finds them all, even reparented.
MARKER="PORTAL_LOCAL_WORKSPACE_DIR=$WORKSPACE_DIR"

STOP_TIMEOUT=${STOP_TIMEOUT:-5}
case "$STOP_TIMEOUT" in
'' | *[!0-9]*) STOP_TIMEOUT=5 ;;
esac

if printf 'a\0%s\0' "$MARKER" | grep -qzxF -- "$MARKER" 2>/dev/null; then
	GREP_Z=yes
else
	GREP_Z=no
fi

# Does process $1 carry our marker? (False for zombies: their environment is empty.)
is_marked() {
	[ -r "/proc/$1/environ" ] || return 1
	if [ "$GREP_Z" = yes ]; then
		grep -qzxF -- "$MARKER" "/proc/$1/environ" 2>/dev/null
	else
		tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -qxF -- "$MARKER"
	fi
}

# Pids of live processes carrying the marker (only our own user's are readable, unless root).
marked_pids() {
	if [ "$GREP_Z" = yes ]; then
		# One grep over all environments: a loop with a process per pid would cost seconds.
		grep -lzxF -- "$MARKER" /proc/[0-9]*/environ 2>/dev/null |
			sed -n 's#^/proc/\([0-9][0-9]*\)/environ$#\1#p' | grep -vx -e "$$" -e "$PPID" || true
	else
		for environ in /proc/[0-9]*/environ; do
			pid=${environ#/proc/}
			pid=${pid%/environ}
			[ "$pid" = "$$" ] && continue
			is_marked "$pid" && echo "$pid"
		done
		return 0
	fi
}

# Pids of live (not zombie) members of process group $PGID. A zombie leader nobody reaps
# (some container inits don't) must not make us wait for it.
group_members() {
	[ -n "$PGID" ] || return 0
	# cat, not awk over the files: a process may exit between the glob and the read.
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$PGID" '{
		pid = $1
		sub(/^.*\) /, "")  # the command name may hold spaces and parentheses
		if ($3 == g && $1 != "Z") print pid
	}' || true
}

# The process group recorded by the last launch, if it still looks like ours.
read_pgid() {
	PGID=$(cat "$PID_FILE" 2>/dev/null || true)
	case "$PGID" in
	'' | *[!0-9]*)
		PGID=""
		return 0
		;;
	esac
	# After a host reboot the pid may belong to someone else: if its leader is alive (not a
	# zombie, whose environment reads empty) and readable, it must carry our marker.
	state=$(sed 's/^.*) //' "/proc/$PGID/stat" 2>/dev/null | cut -d' ' -f1 || true)
	if [ -n "$state" ] && [ "$state" != Z ] && [ -r "/proc/$PGID/environ" ] && ! is_marked "$PGID"; then
		echo "Ignoring stale pid file $PID_FILE (process $PGID is not this workspace's)"
		PGID=""
	fi
}

alive() {
	[ -n "$(group_members)" ] || [ -n "$(marked_pids)" ]
}

signal_all() {
	if [ -n "$PGID" ]; then
		kill -s "$1" -- "-$PGID" 2>/dev/null || true
	fi
	for pid in $(marked_pids); do
		kill -s "$1" "$pid" 2>/dev/null || true
	done
}

stop_agent() {
	read_pgid
	if ! alive; then
		rm -f "$PID_FILE"
		return 0
	fi
	echo "Stopping the workspace's processes${PGID:+ (agent process group $PGID)}"
	signal_all TERM
	deadline=$(($(date +%s) + STOP_TIMEOUT))
	while alive && [ "$(date +%s)" -le "$deadline" ]; do
		sleep 0.1 2>/dev/null || sleep 1
	done
	if alive; then
		echo "Still running after ${STOP_TIMEOUT}s: sending KILL"
		signal_all KILL
		# SIGKILL is delivered asynchronously: return only once they are gone.
		deadline=$(($(date +%s) + 2))
		while alive && [ "$(date +%s)" -le "$deadline" ]; do
			sleep 0.1 2>/dev/null || sleep 1
		done
	fi
	rm -f "$PID_FILE"
	echo "Stopped"
}

prepare() {
	: "${HOME_DIR:?HOME_DIR is not set}"
	mkdir -p "$WORKSPACE_DIR"
	chmod 700 "$WORKSPACE_DIR"
	mkdir -p "$HOME_DIR"
	echo "Home directory: $HOME_DIR"
}

stage() {
	: "${HOME_DIR:?HOME_DIR is not set}"
	: "${AGENT_INIT_SCRIPT:?AGENT_INIT_SCRIPT is not set}"
	command -v setsid >/dev/null 2>&1 || die "setsid (util-linux) is required on the provisioner host"
	# A build that failed or was canceled after starting an agent leaves a tainted resource whose
	# destroy provisioner never runs: clean up after it here.
	stop_agent
	mkdir -p "$WORKSPACE_DIR" "$HOME_DIR"
	chmod 700 "$WORKSPACE_DIR"
	(
		umask 077
		printf '%s\n' "$AGENT_INIT_SCRIPT" >"$INIT_FILE.new"
	)
	chmod 700 "$INIT_FILE.new"
	mv -f "$INIT_FILE.new" "$INIT_FILE"
	echo "Agent log: $LOG_FILE"
}

launch() {
	: "${HOME_DIR:?HOME_DIR is not set}"
	: "${PORTAL_AGENT_TOKEN:?PORTAL_AGENT_TOKEN is not set}"
	[ -x "$INIT_FILE" ] || die "$INIT_FILE is missing: run 'stage' first"
	give_up=${AGENT_GIVE_UP_SECONDS:-3600}
	case "$give_up" in
	'' | *[!0-9]*) die "AGENT_GIVE_UP_SECONDS must be a whole number of seconds, got '$give_up'" ;;
	esac
	rm -f "$PID_FILE"
	cd "$HOME_DIR"
	user=$(id -un 2>/dev/null || echo "${USER:-user}")
	printf '\n=== %s: starting the agent\n' "$(date '+%Y-%m-%d %H:%M:%S')" >>"$LOG_FILE"
	# What the host's network and locale need, when set; nothing else of our environment.
	set --
	for name in TZ LC_ALL http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY \
		SSL_CERT_FILE SSL_CERT_DIR; do
		eval "value=\${$name:-}"
		if [ -n "$value" ]; then
			set -- "$@" "$name=$value"
		fi
	done
	# env -i: Terraform's and the provisioner's variables (TF_*, PORTAL_WORKSPACE_*, ...) must not
	# leak into the workspace, where they would break the user's own Terraform runs.
	# setsid: the agent leads a session of its own, so Terraform's cancel signals (sent to its
	# process group) don't reach it, and it has no controlling terminal to hang up on.
	# No nohup: an ignored SIGHUP would be inherited by every shell the agent starts.
	# Redirections: Terraform waits until nothing holds its output pipe open.
	# shellcheck disable=SC2016 # $$, $1 and $2 belong to the inner shell
	env -i \
		HOME="$HOME_DIR" \
		PATH="${PATH:-/usr/local/bin:/usr/bin:/bin}" \
		USER="$user" \
		LOGNAME="$user" \
		SHELL="${AGENT_SHELL:-/bin/sh}" \
		LANG="${LANG:-C.UTF-8}" \
		PORTAL_AGENT_TOKEN="$PORTAL_AGENT_TOKEN" \
		PORTAL_AGENT_GIVE_UP_SECONDS="$give_up" \
		"$@" \
		"$MARKER" \
		setsid sh -c 'echo "$$" >"$1.new" && mv -f "$1.new" "$1" && exec "$2"' \
		portal-agent "$PID_FILE" "$INIT_FILE" \
		>>"$LOG_FILE" 2>&1 </dev/null &
	# $$ inside the new session is its leader's pid, which is also the process group id: wait
	# for it so that `stop` always knows what to stop.
	tries=0
	while [ ! -s "$PID_FILE" ]; do
		tries=$((tries + 1))
		[ "$tries" -le 100 ] || die "the agent did not start within 10s (see $LOG_FILE)"
		sleep 0.1 2>/dev/null || sleep 1
	done
	echo "Agent started: process group $(cat "$PID_FILE"), log $LOG_FILE"
}

delete() {
	stop_agent
	if [ -e "$WORKSPACE_DIR" ]; then
		# Read-only directories (Go's module cache, for one) would make rm fail half-way.
		chmod -R u+rwX "$WORKSPACE_DIR" 2>/dev/null || true
		rm -rf -- "$WORKSPACE_DIR"
	fi
	echo "Deleted $WORKSPACE_DIR"
}

case "$1" in
prepare) prepare ;;
stage) stage ;;
launch) launch ;;
stop) stop_agent ;;
delete) delete ;;
*) die "unknown command '$1'" ;;
esac
