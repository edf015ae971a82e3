#ifndef PASSLINE_COPENSSL_SHIM_H
#define PASSLINE_COPENSSL_SHIM_H
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <time.h>

/* OpenSSL spells these as macros or type-generic stacks; Swift cannot call them. */

static inline STACK_OF(X509) *passline_sk_X509_new(void) { return sk_X509_new_null(); }
static inline int passline_sk_X509_push(STACK_OF(X509) *s, X509 *x) { return sk_X509_push(s, x); }
static inline int passline_sk_X509_num(const STACK_OF(X509) *s) { return s ? sk_X509_num(s) : 0; }
static inline X509 *passline_sk_X509_value(const STACK_OF(X509) *s, int i) { return sk_X509_value(s, i); }
/* Frees the stack only: the certificates belong to their Swift owners. */
static inline void passline_sk_X509_free(STACK_OF(X509) *s) { sk_X509_free(s); }
/* Frees the stack and drops one reference of every certificate in it. */
static inline void passline_sk_X509_pop_free(STACK_OF(X509) *s) { sk_X509_pop_free(s, X509_free); }

static inline long passline_BIO_get_mem_data(BIO *b, char **pp) { return BIO_get_mem_data(b, pp); }
static inline void passline_OPENSSL_free(void *p) { OPENSSL_free(p); }

static inline int passline_PKCS7_is_detached(PKCS7 *p7) { return (int)PKCS7_get_detached(p7); }
static inline int passline_PKCS7_is_signed(const PKCS7 *p7) { return PKCS7_type_is_signed(p7); }

/* Certificates carried inside a signedData structure (borrowed). */
static inline STACK_OF(X509) *passline_PKCS7_certs(PKCS7 *p7) {
    if (!PKCS7_type_is_signed(p7) || p7->d.sign == NULL) return NULL;
    return p7->d.sign->cert;
}

static inline int passline_PKCS7_signer_count(PKCS7 *p7) {
    STACK_OF(PKCS7_SIGNER_INFO) *infos = PKCS7_get_signer_info(p7);
    return infos ? sk_PKCS7_SIGNER_INFO_num(infos) : 0;
}

/* The signingTime attribute of the first signer, as seconds since 1970; 0 when absent. */
static inline int passline_PKCS7_signing_time(PKCS7 *p7, time_t *out) {
    STACK_OF(PKCS7_SIGNER_INFO) *infos = PKCS7_get_signer_info(p7);
    if (!infos || sk_PKCS7_SIGNER_INFO_num(infos) < 1) return 0;
    PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(infos, 0);
    ASN1_TYPE *t = PKCS7_get_signed_attribute(si, NID_pkcs9_signingTime);
    if (!t) return 0;
    const ASN1_TIME *when = NULL;
    if (t->type == V_ASN1_UTCTIME) when = t->value.utctime;
    else if (t->type == V_ASN1_GENERALIZEDTIME) when = t->value.generalizedtime;
    if (!when) return 0;
    struct tm tm;
    if (!ASN1_TIME_to_tm(when, &tm)) return 0;
    *out = timegm(&tm);
    return 1;
}

static inline EVP_PKEY *passline_rsa_generate(unsigned int bits) { return EVP_RSA_gen(bits); }
/* EVP_EC_gen is a variadic macro, which Swift cannot call. */
static inline EVP_PKEY *passline_ec_generate(const char *curve) { return EVP_EC_gen(curve); }

static inline void passline_X509V3_set_ctx_nodb(X509V3_CTX *ctx) { X509V3_set_ctx_nodb(ctx); }

/* ASN1_TIME → seconds since 1970 (UTC). */
static inline int passline_ASN1_TIME_to_unix(const ASN1_TIME *t, time_t *out) {
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm)) return 0;
    *out = timegm(&tm);
    return 1;
}

#endif
