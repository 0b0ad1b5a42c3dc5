# mk/vendor.mk - build the pinned third-party libraries (mbedTLS, nanopb).
#
# Set these, then include this file (DESIGN.md §5, vendor/VERSIONS):
#   CC             compiler for this flavor (musl-gcc, gcc, clang)
#   VENDOR_BUILD   output directory for this flavor, e.g. build/release/vendor
#   VENDOR_CFLAGS  flags for this flavor (-O2, -g, -fsanitize=..., -static
#                  is a link flag and is not needed here)
#   VENDOR_NANOPB_DEFS  optional PB_* defines; our generated .pb.c files must
#                  see the same ones, so they are part of VENDOR_INCLUDES
# The values are captured when this file is included, so set them *before*
# the include. Including it again with another CC/VENDOR_BUILD/VENDOR_CFLAGS
# adds a second flavor (copy VENDOR_LIBS away first: it is per flavor).
#
# Provides:
#   VENDOR_INCLUDES  -I/-D flags for any code that includes mbedTLS or nanopb
#                    headers (selects vendor/mbedtls_config.h)
#   VENDOR_LIBS      $(VENDOR_BUILD)/libmbedtls.a $(VENDOR_BUILD)/libnanopb.a
#                    (libmbedtls.a holds mbedtls + mbedx509 + mbedcrypto and
#                    our own modules, VENDOR_MBEDTLS_OWN; link with -lpthread
#                    on old glibc)
#   VENDOR_STAMP     vendor/.fetched, made by tools/fetch-vendor.sh
#   targets          $(VENDOR_LIBS), vendor-fetch, vendor-libs (this flavor),
#                    vendor-distclean (downloaded and extracted sources)
# Third-party code is built with its own warnings off (-w), never -Werror;
# our own modules (vendor/gcm_alt.c) with -Wall -Wextra -Werror.
# Objects go to $(VENDOR_BUILD)/obj/{mbedtls,nanopb}/. V=1 shows commands.

_vendor_mk := $(lastword $(MAKEFILE_LIST))
# Defining rules here must not change the includer's default goal.
_vendor_default_goal := $(.DEFAULT_GOAL)

ifeq ($(strip $(VENDOR_BUILD)),)
$(error $(_vendor_mk): set VENDOR_BUILD (e.g. build/release/vendor) before including it)
endif

# ---- shared by every flavor (defined once) ----------------------------------
ifndef _VENDOR_MK_COMMON
_VENDOR_MK_COMMON := 1

# Repository root, from where this file is: "." when included as mk/vendor.mk.
VENDOR_TOP ?= $(patsubst %/mk/,%,$(patsubst mk/,./mk/,$(dir $(_vendor_mk))))
VENDOR_DIR := $(patsubst ./%,%,$(VENDOR_TOP)/vendor)
VENDOR_STAMP := $(VENDOR_DIR)/.fetched
VENDOR_FETCH := $(patsubst ./%,%,$(VENDOR_TOP)/tools/fetch-vendor.sh)
VENDOR_MBEDTLS_DIR := $(VENDOR_DIR)/mbedtls
VENDOR_NANOPB_DIR := $(VENDOR_DIR)/nanopb
VENDOR_MBEDTLS_CONFIG := $(VENDOR_DIR)/mbedtls_config.h
VENDOR_NANOPB_DEFS ?=

# Angle brackets: a quoted name would find include/mbedtls/mbedtls_config.h
# (upstream's default) next to build_info.h before ours.
VENDOR_INCLUDES := -I$(VENDOR_MBEDTLS_DIR)/include -I$(VENDOR_NANOPB_DIR) \
	-I$(VENDOR_DIR) '-DMBEDTLS_CONFIG_FILE=<mbedtls_config.h>' \
	$(VENDOR_NANOPB_DEFS)

# Every library/*.c of mbedTLS 3.6.6 (sorted `ls`); what our config turns off
# compiles to an empty object. Update this list with the pin (vendor/README.md).
VENDOR_MBEDTLS_SRCS := \
	aes aesce aesni aria asn1parse asn1write base64 bignum bignum_core \
	bignum_mod bignum_mod_raw block_cipher camellia ccm chacha20 chachapoly \
	cipher cipher_wrap cmac constant_time ctr_drbg debug des dhm ecdh ecdsa \
	ecjpake ecp ecp_curves ecp_curves_new entropy entropy_poll error gcm \
	hkdf hmac_drbg lmots lms md md5 memory_buffer_alloc mps_reader \
	mps_trace net_sockets nist_kw oid padlock pem pk pk_ecc pk_wrap pkcs12 \
	pkcs5 pkcs7 pkparse pkwrite platform platform_util poly1305 psa_crypto \
	psa_crypto_aead psa_crypto_cipher psa_crypto_client \
	psa_crypto_driver_wrappers_no_static psa_crypto_ecp psa_crypto_ffdh \
	psa_crypto_hash psa_crypto_mac psa_crypto_pake psa_crypto_random \
	psa_crypto_rsa psa_crypto_se psa_crypto_slot_management \
	psa_crypto_storage psa_its_file psa_util ripemd160 rsa rsa_alt_helpers \
	sha1 sha256 sha3 sha512 ssl_cache ssl_ciphersuites ssl_client \
	ssl_cookie ssl_debug_helpers_generated ssl_msg ssl_ticket ssl_tls \
	ssl_tls12_client ssl_tls12_server ssl_tls13_client ssl_tls13_generic \
	ssl_tls13_keys ssl_tls13_server threading timing version \
	version_features x509 x509_create x509_crl x509_crt x509_csr x509write \
	x509write_crt x509write_csr
VENDOR_NANOPB_SRCS := pb_common pb_encode pb_decode
# Our own mbedTLS modules, vendor/NAME.c with its vendor/NAME.h (mbedtls_config.h
# selects them with MBEDTLS_*_ALT), built into libmbedtls.a with warnings on.
VENDOR_MBEDTLS_OWN := gcm_alt

# Flags of our own that follow the flavor's: no warnings (not our code),
# mbedTLS's own large-file define.
VENDOR_OWN_CFLAGS := -w -D_FILE_OFFSET_BITS=64

ifeq ($(V),1)
_vendor_q :=
_vendor_say := @:
else
_vendor_q := @
_vendor_say := @echo
endif

# The sources exist once the fetch has run; the empty recipe says so to make.
$(VENDOR_STAMP): $(VENDOR_DIR)/VERSIONS $(VENDOR_FETCH)
	$(_vendor_q)sh $(VENDOR_FETCH)
	$(_vendor_q)touch $@
$(patsubst %,$(VENDOR_MBEDTLS_DIR)/library/%.c,$(VENDOR_MBEDTLS_SRCS)) \
$(patsubst %,$(VENDOR_NANOPB_DIR)/%.c,$(VENDOR_NANOPB_SRCS)): | $(VENDOR_STAMP) ;

.PHONY: vendor-fetch vendor-libs vendor-distclean
vendor-fetch: $(VENDOR_STAMP)
vendor-distclean:
	rm -rf $(VENDOR_MBEDTLS_DIR) $(VENDOR_NANOPB_DIR) $(VENDOR_STAMP) \
		$(VENDOR_DIR)/*.tar.* $(VENDOR_DIR)/.extract-*
endif # _VENDOR_MK_COMMON

# ---- this flavor --------------------------------------------------------------
_vendor_b := $(patsubst %/,%,$(VENDOR_BUILD))
_vendor_mbedtls_objs := $(patsubst %,$(_vendor_b)/obj/mbedtls/%.o,$(VENDOR_MBEDTLS_SRCS))
_vendor_nanopb_objs := $(patsubst %,$(_vendor_b)/obj/nanopb/%.o,$(VENDOR_NANOPB_SRCS))
_vendor_own_objs := $(patsubst %,$(_vendor_b)/obj/mbedtls-own/%.o,$(VENDOR_MBEDTLS_OWN))
VENDOR_LIBS := $(_vendor_b)/libmbedtls.a $(_vendor_b)/libnanopb.a

# Captured now, so that each flavor keeps its own compiler and flags.
$(_vendor_mbedtls_objs) $(_vendor_nanopb_objs): private _vendor_cc := $(CC)
$(_vendor_mbedtls_objs) $(_vendor_nanopb_objs): private _vendor_cflags := \
	$(VENDOR_CFLAGS) $(VENDOR_OWN_CFLAGS) $(VENDOR_INCLUDES)
$(_vendor_own_objs): private _vendor_cc := $(CC)
$(_vendor_own_objs): private _vendor_cflags := -std=c11 -Wall -Wextra -Werror \
	$(VENDOR_CFLAGS) $(VENDOR_INCLUDES)

$(_vendor_mbedtls_objs): $(_vendor_b)/obj/mbedtls/%.o: \
		$(VENDOR_MBEDTLS_DIR)/library/%.c $(VENDOR_MBEDTLS_CONFIG) \
		$(VENDOR_STAMP) $(_vendor_mk)
	$(_vendor_say) "  CC      $@"
	@mkdir -p $(@D)
	$(_vendor_q)$(_vendor_cc) $(_vendor_cflags) -c $< -o $@

$(_vendor_nanopb_objs): $(_vendor_b)/obj/nanopb/%.o: \
		$(VENDOR_NANOPB_DIR)/%.c $(VENDOR_STAMP) $(_vendor_mk)
	$(_vendor_say) "  CC      $@"
	@mkdir -p $(@D)
	$(_vendor_q)$(_vendor_cc) $(_vendor_cflags) -c $< -o $@

$(_vendor_own_objs): $(_vendor_b)/obj/mbedtls-own/%.o: $(VENDOR_DIR)/%.c $(VENDOR_DIR)/%.h \
		$(VENDOR_MBEDTLS_CONFIG) $(VENDOR_STAMP) $(_vendor_mk)
	$(_vendor_say) "  CC      $@"
	@mkdir -p $(@D)
	$(_vendor_q)$(_vendor_cc) $(_vendor_cflags) -c $< -o $@

$(_vendor_b)/libmbedtls.a: $(_vendor_mbedtls_objs) $(_vendor_own_objs)
$(_vendor_b)/libnanopb.a: $(_vendor_nanopb_objs)
$(VENDOR_LIBS):
	$(_vendor_say) "  AR      $@"
	@rm -f $@
	$(_vendor_q)$(AR) rcs $@ $^

vendor-libs: $(VENDOR_LIBS)

.DEFAULT_GOAL := $(_vendor_default_goal)
