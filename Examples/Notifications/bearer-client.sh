#!/usr/bin/env bash
# An API client of Examples/Notifications, as a mobile app or another server would be: it gets a token from POST /token
# with a user's name and password, then reads that user's feed and the lobby with `Authorization: Bearer`.
#   ./bearer-client.sh alice alice-secret [http://127.0.0.1:8000]
# LAST_EVENT_ID=0 ./bearer-client.sh … replays what the hub still has. Tokens last 15 minutes: when the stream ends at
# expiry, ask for a new token and reconnect with the last id you read (curl shows it in the `id:` lines).
# (Names are letters, digits, '-' or '_'; a password with a '"' or '\' would need JSON escaping here.)
set -euo pipefail
user=${1:?usage: bearer-client.sh <user> <password> [base url]}
password=${2:?usage: bearer-client.sh <user> <password> [base url]}
base=${3:-http://127.0.0.1:8000}

answer=$(curl -sS --fail-with-body -X POST "$base/token" -H 'Content-Type: application/json' \
  -d "{\"user\":\"$user\",\"password\":\"$password\"}") || { echo "sign-in failed: $answer" >&2; exit 1; }
token=$(printf '%s' "$answer" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

curl -sSN -H "Authorization: Bearer $token" -H 'Accept: text/event-stream' \
  ${LAST_EVENT_ID:+-H "Last-Event-ID: $LAST_EVENT_ID"} \
  "$base/events?topic=users/$user&topic=rooms/lobby"
