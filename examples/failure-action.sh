#!/bin/sh
# A sample failure action for RingMonitor (failureAction.script). It runs on the node that
# detected the failure, without a shell around it (execFile), with these environment variables:
#
#   NONSTOP_FAILED_NODE         the failed node's logical name
#   NONSTOP_FAILED_HOST         its host name from the cluster configuration
#   NONSTOP_FAILED_PORT         its port
#   NONSTOP_FAILED_INCARNATION  the incarnation that died (a restart gets a new one)
#   NONSTOP_DETECTOR            the node that declared the failure (this node)
#   NONSTOP_GENERATION          the configuration generation of the declaration
#
# Arguments come from failureAction.args; here: the log file to append to. Keep it idempotent and
# short (it is killed after failureAction.timeoutMs); the exit code and output are reported in the
# monitor's `failureActionDone` event.
set -eu
log="${1:-/dev/stdout}"
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $NONSTOP_DETECTOR: $NONSTOP_FAILED_NODE (incarnation $NONSTOP_FAILED_INCARNATION at $NONSTOP_FAILED_HOST:$NONSTOP_FAILED_PORT) failed; generation $NONSTOP_GENERATION" >> "$log"
# Real follow-up actions go here: page someone, restart the node elsewhere, start node recovery …
echo "handled $NONSTOP_FAILED_NODE"
