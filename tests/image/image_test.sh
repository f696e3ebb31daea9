#!/usr/bin/env bash
# The PMOS image test (issue 10): one image built, then booted under qemu (TCG)
# for each case, every boot under `timeout`, markers read from the serial log.
#   image_test.sh CASE BUILD_DIR WORK_DIR
# CASE: build | boot-persist | corrupt-root | wrong-hash | other-key | enroll-chat
# The image is built once (case build, a ctest fixture) into WORK_DIR/image and
# shared; each boot runs on its own sparse copy of the disk.
set -euo pipefail
case_="$1" build="$2" work="$3"
src="$(cd "$(dirname "$0")/../.." && pwd)"
tool="$src/image/pmos-image"
img="$work/image"
boot_timeout="${PMOS_IMAGE_BOOT_TIMEOUT:-240}"

fail() { echo "FAIL: $*" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: the image test needs root (mmdebstrap, chroot)"; exit 77
fi

# Boots DISK with CONFIG; the serial console goes to LOG. Returns qemu's status
# (124 on timeout).
boot() {
  local disk="$1" config="$2" log="$3" t0=$SECONDS rc=0
  timeout "$boot_timeout" "$tool" run --out "$img" --disk "$disk" --config "$config" \
    </dev/null >"$log" 2>&1 || rc=$?
  echo "boot of $(basename "$disk") took $((SECONDS - t0)) s (exit $rc), log $log"
  [ "$rc" != 124 ] || { tail -30 "$log"; fail "boot timed out after $boot_timeout s"; }
}
expect() {  # LOG PATTERN WHAT
  grep -qE "$2" "$1" || { tail -40 "$1"; fail "$3: no '$2' on the console"; }
  echo "ok: $3"
}
expect_not() {
  if grep -qE "$2" "$1"; then tail -40 "$1"; fail "$3: '$2' on the console"; fi
  echo "ok: $3"
}
disk_copy() { cp --sparse=always "$img/disk.img" "$1"; }
# Byte offset of a partition (by GPT name) in a disk image.
part_offset() {
  local start
  start=$(sfdisk -d "$1" | sed -n "s/.*start= *\([0-9]*\),.*name=\"$2\".*/\1/p")
  [ -n "$start" ] || fail "no partition $2 in $1"
  echo $((start * 512))
}
write_statement() {  # DISK SIGNED_FILE
  local off; off=$(part_offset "$1" pmos-rootsig)
  dd if=/dev/zero of="$1" bs=512 seek=$((off / 512)) count=2048 conv=notrunc status=none
  dd if="$2" of="$1" bs=512 seek=$((off / 512)) conv=notrunc status=none
}
refusal_case() {  # NAME DISK EXPECTED-MESSAGE
  local log="$work/$1.log"
  "$tool" config --out "$work/$1.config" --data-key "$work/data.key"
  boot "$2" "$work/$1.config" "$log"
  expect "$log" "pmos-init: REFUSING TO BOOT: $3" "$1 refused with a clear message"
  expect_not "$log" "Reached target.*Multi-User|verified root mounted" "$1 did not boot"
  rm -f "$2"
}

mkdir -p "$work"
case "$case_" in
  build)
    t0=$SECONDS
    "$tool" build --build "$build" --out "$img" --luks-test-kdf --test-hooks
    echo "image build took $((SECONDS - t0)) s"
    for f in disk.img vmlinuz initrd.img cmdline root.signed root.pub; do
      [ -s "$img/$f" ] || fail "build left no $img/$f"
    done
    # Reproducible: the root hash depends only on the inputs. A second build
    # from the cached tarball must sign the same statement.
    cp "$img/root.statement" "$work/first.statement"
    "$tool" build --build "$build" --out "$img" --luks-test-kdf --test-hooks >/dev/null
    cmp "$work/first.statement" "$img/root.statement" || fail "two builds gave different root hashes"
    echo "ok: the rebuild gives the same root hash"
    ( umask 077; head -c 64 /dev/urandom > "$work/data.key" )
    ;;

  boot-persist)
    disk="$work/persist.img"
    disk_copy "$disk"
    marker="PMOS-DATA-MARKER-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    cat > "$work/boot1.sh" <<SCRIPT
#!/bin/sh
echo "PMOS-TEST pmosd=\$(systemctl is-active pmosd.service)"
for i in 1 2 3 4 5 6 7 8 9 10; do [ -S /run/pmos/pmosd.sock ] && break; sleep 1; done
pmos app list --socket /run/pmos/pmosd.sock >/dev/null 2>&1 && echo "PMOS-TEST app-list-ok"
echo "PMOS-TEST data=\$(findmnt -n -o SOURCE /var/lib/pmos)"
echo "PMOS-TEST root=\$(findmnt -n -o SOURCE /)"
echo "$marker" > /var/lib/pmos/marker
for i in 1 2 3 4 5 6 7 8; do echo "$marker" > /var/lib/pmos/marker.\$i; done
sync
echo "PMOS-TEST written"
systemctl poweroff
SCRIPT
    cat > "$work/boot2.sh" <<'SCRIPT'
#!/bin/sh
echo "PMOS-TEST pmosd=$(systemctl is-active pmosd.service)"
echo "PMOS-TEST read=$(cat /var/lib/pmos/marker)"
systemctl poweroff
SCRIPT
    "$tool" config --out "$work/boot1.config" --data-key "$work/data.key" --test-script "$work/boot1.sh"
    "$tool" config --out "$work/boot2.config" --data-key "$work/data.key" --test-script "$work/boot2.sh"
    boot "$disk" "$work/boot1.config" "$work/boot1.log"
    expect "$work/boot1.log" "root statement signed by the authority" "signature checked"
    expect "$work/boot1.log" "first boot: creating the encrypted data partition" "data partition created"
    expect "$work/boot1.log" "Reached target.*Multi-User System" "boots to multi-user"
    expect "$work/boot1.log" "PMOS-TEST pmosd=active" "pmosd active"
    expect "$work/boot1.log" "PMOS-TEST app-list-ok" "pmosd answers on its socket"
    expect "$work/boot1.log" "PMOS-TEST data=/dev/mapper/pmos-data" "data on the LUKS2 mapping"
    expect "$work/boot1.log" "PMOS-TEST root=/dev/mapper/pmos-root" "root on the verity mapping"
    expect "$work/boot1.log" "PMOS-TEST written" "marker written"
    expect_not "$work/boot1.log" "timesyncd|Resolve|DHCP" "nothing network-related started"
    boot "$disk" "$work/boot2.config" "$work/boot2.log"
    expect_not "$work/boot2.log" "first boot" "second boot reuses the data partition"
    expect "$work/boot2.log" "PMOS-TEST read=$marker" "data persists across a reboot"
    # The data partition is ciphertext: the marker is nowhere in the raw image,
    # the partition is LUKS2, and only the data key opens it.
    off=$(part_offset "$disk" pmos-data)
    if grep -qa "$marker" "$disk"; then fail "the marker is readable in the raw disk image"; fi
    echo "ok: the marker is absent from the raw disk image"
    dd if="$disk" of="$work/data.part" bs=1M skip=$((off / 1048576)) status=none
    cryptsetup isLuks --type luks2 "$work/data.part" || fail "the data partition is not LUKS2"
    cryptsetup open --test-passphrase --key-file "$work/data.key" "$work/data.part" ||
      fail "the data key does not open the data partition"
    head -c 64 /dev/urandom > "$work/wrong.key"
    if cryptsetup open --test-passphrase --key-file "$work/wrong.key" "$work/data.part" 2>/dev/null; then
      fail "another key opens the data partition"
    fi
    echo "ok: LUKS2; only the data key opens it"
    rm -f "$disk" "$work/data.part"
    ;;

  corrupt-root)
    disk="$work/corrupt.img"
    disk_copy "$disk"
    off=$(part_offset "$disk" pmos-root)
    data_bytes=$(sed -n 's/^hash-offset //p' "$img/root.statement")
    # One byte in the middle of the squashfs, XORed with 0x01.
    pos=$((off + data_bytes / 2))
    b=$(dd if="$disk" bs=1 skip=$pos count=1 status=none | od -An -tu1 | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$disk" bs=1 seek=$pos conv=notrunc status=none
    refusal_case corrupt-root "$disk" "the root file system does not match the signed root hash"
    ;;

  wrong-hash)
    # A statement the right key signed, but for another root hash.
    disk="$work/wronghash.img"
    disk_copy "$disk"
    h=$(sed -n 's/^root-hash //p' "$img/root.statement")
    other=$(printf '%s' "$h" | sha256sum | cut -c1-64)
    sed "s/^root-hash .*/root-hash $other/" "$img/root.statement" > "$work/wrong.statement"
    "$tool" sign --key "$img/keys/test-root.key" --statement "$work/wrong.statement" --out "$work/wrong.signed"
    write_statement "$disk" "$work/wrong.signed"
    refusal_case wrong-hash "$disk" "the root file system does not match the signed root hash"
    # The same altered statement keeping the original signature: refused by the signature.
    disk="$work/forged.img"
    disk_copy "$disk"
    sig=$(sed -n 's/^signature //p' "$img/root.signed")
    { cat "$work/wrong.statement"; echo; echo "signature $sig"; } > "$work/forged.signed"
    write_statement "$disk" "$work/forged.signed"
    refusal_case forged-hash "$disk" "the root statement is not signed by this image's authority key"
    ;;

  other-key)
    disk="$work/otherkey.img"
    disk_copy "$disk"
    rm -f "$work/other.key" "$work/other.key.pub"
    "$tool" sign-key --out "$work/other.key" >/dev/null
    "$tool" sign --key "$work/other.key" --statement "$img/root.statement" --out "$work/other.signed"
    write_statement "$disk" "$work/other.signed"
    refusal_case other-key "$disk" "the root statement is not signed by this image's authority key"
    ;;

  enroll-chat)
    # First-boot enrollment against pmos-server on the host's loopback, then one
    # encrypted message each way between the guest (alice) and a host client (bob).
    # The guest is driven by the test hook (test.sh on the config disk).
    server="$build/services/server/pmos-server" pmos="$build/apps/pmos/pmos"
    [ -x "$server" ] && [ -x "$pmos" ] || fail "needs $server and $pmos"
    data="$work/server"
    rm -rf "$data" "$work/bob"
    "$server" init --data "$data" --san-ip 127.0.0.1,10.0.2.100 >/dev/null
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$server" run --data "$data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
    server_pid=$!
    trap 'kill $server_pid 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    token_a=$("$server" enroll-token --data "$data" --user alice)
    token_b=$("$server" enroll-token --data "$data" --user bob)
    export PMOS_PASSCODE=host-passcode
    bob=("$pmos" chat --home "$work/bob")
    "${bob[@]}" enroll --server "127.0.0.1:$port" --ca "$data/ca.pem" --token "$token_b" >/dev/null
    cat > "$work/chat.sh" <<'SCRIPT'
#!/bin/sh
export PMOS_PASSCODE=guest-passcode
echo "PMOS-TEST enroll=$(systemctl is-active pmos-enroll.service)"
chat() { pmos chat --home /var/lib/pmos/chat "$@"; }
chat create night-shift bob >/dev/null && echo "PMOS-TEST created"
chat send night-shift "hello from the image" >/dev/null && echo "PMOS-TEST sent"
i=0
while [ $i -lt 60 ]; do
  if chat read night-shift 2>/dev/null | grep -q "hello from the host"; then echo "PMOS-TEST got-reply"; break; fi
  i=$((i + 1)); sleep 2
done
systemctl poweroff
SCRIPT
    disk="$work/chat.img"
    disk_copy "$disk"
    "$tool" config --out "$work/chat.config" --data-key "$work/data.key" --test-script "$work/chat.sh" \
      --address 10.0.2.15/24 --enroll-server "10.0.2.100:$port" --enroll-ca "$data/ca.pem" \
      --enroll-token "$token_a" --enroll-passcode guest-passcode
    log="$work/chat.log"
    timeout "$boot_timeout" "$tool" run --out "$img" --disk "$disk" --config "$work/chat.config" \
      --server-port "$port" </dev/null >"$log" 2>&1 &
    qemu_pid=$!
    for _ in $(seq 1 "$boot_timeout"); do
      grep -q "PMOS-TEST sent" "$log" && break
      kill -0 $qemu_pid 2>/dev/null || break
      sleep 1
    done
    expect "$log" "pmos-enroll: enrolled with 10.0.2.100:$port" "the image enrolled on first boot"
    expect "$log" "PMOS-TEST sent" "the image created a conversation and sent"
    got=$("${bob[@]}" read night-shift)
    grep -q "hello from the image" <<<"$got" || { echo "$got"; fail "bob did not get the image's message"; }
    echo "ok: the host client read the image's message"
    "${bob[@]}" send night-shift "hello from the host" >/dev/null
    rc=0; wait $qemu_pid || rc=$?
    [ $rc != 124 ] || fail "the guest timed out"
    expect "$log" "PMOS-TEST got-reply" "the image read the host's reply"
    rm -f "$disk"
    ;;

  *) fail "unknown case $case_" ;;
esac
echo "PASS: $case_"
