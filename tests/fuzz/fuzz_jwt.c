/*
 * Fuzz target: verification of untrusted JWTs (an id_token_hint, or one of
 * our own tokens coming back). The ring holds one fixed test key, so the
 * corpus tokens signed with it get past the header checks to signature
 * verification and payload parsing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/jose.h"
#include "common/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A 2048-bit RSA key made for this harness only and published here with
 * its private parts: it signs nothing but the seed corpus. Its kid is its
 * RFC 7638 thumbprint, as the ring loader demands.
 */
static const char fuzz_ring_json[] =
	"{\"keys\":[{\"kid\":\"i4yg8e13txgvwi1CNR90FfGGyUaS0y_yLvdNmP1tcsM\",\"jwk"
	"\":{\"kty\":\"RSA\",\"n\":\"7fM0_UAOa4LtMMQWMoecD77Tg9Drr8Y8vMD34CERJ7YKWq"
	"kMFCaHLOAFMXF7rbFTavckT_wG_EuOnRAsyhNoQs8zeIYYkL5Pqtn9bNNto8-dc_Rs"
	"A_mNCHZf3liEkiCK5rNjeieKyuqZpxG8EN2PwhOlUakwTUDzS63POawiIzge1-UwpL"
	"YhmJcL3LMj8pbtx_xf-tdyrmgdJIvQpqMvxDKsgq6oudpH0MnFC5CymcFT7QjVE4Gc"
	"4IUObbT_lDNaNWjdqJbLw44-TG9hXcSu-63B9J38jVjkLsYY3Ne-NR7mV-p2YS6-cB"
	"-ktbvWG2LIW7Mwk-6agFXqo97kb6Lh2w\",\"e\":\"AQAB\",\"d\":\"LwaZulMmhmjhp3mZ"
	"SXMzjIkSFEL90UdESal5U3o1gbugYDp4gKL8pAnB_PuIjdM1wTYGnygX2VS1YqUHtQ"
	"gQ2uNIMNGPmUuDQyjBxPgj-vPVEk2D62UuUjXSzIaB7L8xtFZPmpyl-WRT6Yi_ujWP"
	"a7OmQHVHbn0fmB1JjwRN2tei7qnnL0dpL6kmqrOhVk2bBqfhdO1g_UDy4Yq3GMsCq7"
	"uX48_YbTAm0sbBcTniyTV17ZqInaC3gn4FFgpShbg7OkjYTpMIi3zGrrOvTIYj8w_R"
	"A2Tq3HBVSrlEoABDXGa7k9VxybB6SyD4PtMPDRDN89zd55iabXg17qFcJksrgQ\",\"p"
	"\":\"-1DUbgW7q31YeZD6OIQ7nTeC3UwECK71YuJ-QoGWJrocdI91kzotWBnAdMlVAC6"
	"QCMVgpZgA6ksX-eMDUs6TDHkx_uDchBOhfprjOh39k_10LUVMMNHhzfYgPRlrhMBGS"
	"ddDcSFHFWztwtTHOVW673VwPnZlWr2kIb8dRevTZOk\",\"q\":\"8mKaDYwwh60lJZbxc"
	"pZh7fhNtVhbH8lU_3djPrKv1TM7nzc4hp1kHu-IrTwopJnVcQsvksew-0GrjACBwLH"
	"OdOZaPQhValhgxIbOwydRxPNl7sBHjWfBXr0uziPH3nGkbnAwAF1t08rWvLlcEP1RS"
	"3Ik3hqPsSwcIkFuE1_FpiM\",\"dp\":\"1YFlB5eNSXKywIx_V5ZXgwhPACx9XNcul3Su"
	"KVgoNPx2AjyCebK6JReznkQRF5d3PExbADOzy1hCpUPMZgQjfzxTUiK8lOSMlZ-Gnb"
	"Au5xQzJ-awhOU5_Z005FN9OYmT7VWY8TqBRl2FXLkiC76ekqLl2dsB3mYwU48mkml3"
	"7Uk\",\"dq\":\"nmplRy911GcMnTm_CmZREOg1Wa2quOasP992pNbCZvR6JkBAGHMrqbB"
	"iQt7LrXDBeIWYDTWobT7pcLIwG5HaXrrjBXq54KxsamW1IwVCwxdVaqqO2VOTpWi9-"
	"4qVKcRadLesF8D4c_DhUi1Ph-cYR9gNUoBHo8MxjA35dH4mvsM\",\"qi\":\"TFgAliCk"
	"LnKAYMMr1iilVJY3STFy9Pds6L5eHORG_w70MnPDS7htBf6N-eDoTdPdlnwwTp0AOL"
	"HEMJ87lGMYT3t8k8W_2LGJudZ-7ECWsKq5cznrSMM_EQ4kHIdIbOa27d8DyRWz-f3z"
	"5KYQCePT3uj2vI4l1kRW9WtzLtRdjtY\"},\"created_at\":1700000000,\"expires"
	"_at\":4102444800,\"retire_after\":4102448400}]}";

/*
 * The ring is made on the first call and kept for the whole run: libFuzzer
 * gives no other place to keep state. Library code never does this.
 */
static af_keyring *fuzz_keyring(void)
{
	static store_ctx *st;
	static af_keyring *kr;
	store_options so = {.backend = STORE_BACKEND_MEMORY};
	af_keyring_options o = {
		.rsa_bits = 2048,
		.lifetime_days = 90,
		.alert_days = 30,
		.max_token_lifetime_s = 3600,
	};
	char err[128];

	if (kr != NULL)
		return kr;
	if (store_open(&so, &st, err, sizeof(err)) != STORE_OK ||
	    store_set(st, JOSE_RING_STORE_KEY, fuzz_ring_json,
		      sizeof(fuzz_ring_json) - 1, 0, 0) != STORE_OK ||
	    af_keyring_open(st, &o, &kr) != JOSE_OK)
		abort();
	return kr;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	af_keyring *kr = fuzz_keyring();
	json_t *claims = NULL;
	jose_status st;

	st = af_jwt_verify(kr, (const char *)data, size, &claims);
	if (st == JOSE_OK) {
		if (!json_is_object(claims))
			abort();
		json_decref(claims);
	} else if (claims != NULL) {
		abort();
	}
	return 0;
}
