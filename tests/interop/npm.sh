# npm.sh -- sourced by the interop suites: pinned npm packages in a directory of their own
# under build/, and a Node new enough for packages that need one. Set NPM_DIR first.
#   npm_installed PKG VERSION   is exactly that version installed in $NPM_DIR?
#   npm_install SPEC...         two bounded attempts (a stalled download must not hang the
#                               run); output goes to $NPM_DIR/npm.log
#   npm_node MAJOR MINOR PKGVER prints a node >= MAJOR.MINOR: the system's, else the plain
#                               node-<os>-<arch>@PKGVER binary package from npm; nothing
#                               when neither runs

npm_installed() {
	node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' \
	    "$NPM_DIR/node_modules/$1/package.json" "$2" 2>/dev/null
}

npm_install() {
	mkdir -p "$NPM_DIR"
	[ -f "$NPM_DIR/package.json" ] || (cd "$NPM_DIR" && npm init -y >/dev/null)
	for attempt in 1 2; do
		if (cd "$NPM_DIR" && timeout -k 10 240 npm install --no-audit --no-fund --silent "$@" \
		    >>"$NPM_DIR/npm.log" 2>&1); then
			return 0
		fi
		echo "# npm install $* failed (attempt $attempt); see $NPM_DIR/npm.log"
	done
	return 1
}

npm_node() {
	_pkg=$(node -p '"node-" + process.platform + "-" + process.arch')
	if node -e 'const [a, b] = process.versions.node.split(".").map(Number);
	    const [ma, mi] = process.argv.slice(1).map(Number);
	    process.exit(a > ma || (a === ma && b >= mi) ? 0 : 1)' "$1" "$2"; then
		command -v node
	elif { npm_installed "$_pkg" "$3" || npm_install "$_pkg@$3" >&2; } &&
	    "$NPM_DIR/node_modules/$_pkg/bin/node" --version >/dev/null 2>&1; then
		echo "$NPM_DIR/node_modules/$_pkg/bin/node"
	fi
}
