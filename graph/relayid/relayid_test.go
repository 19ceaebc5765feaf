package relayid

import (
	"bytes"
	"encoding/base64"
	"math"
	"strconv"
	"testing"
)

func TestEncodeAndMarshalID(t *testing.T) {
	for _, id := range []int{1, 7, 4294967296, -(3<<16 + 2), -1, math.MaxInt64, math.MinInt64 + 1} {
		want := base64.RawURLEncoding.EncodeToString([]byte("lk:" + strconv.Itoa(id)))
		if got := Encode(id); got != want {
			t.Errorf("Encode(%d) = %q, want %q", id, got, want)
		}
		if back, err := Decode(want); err != nil || back != id {
			t.Errorf("Decode(Encode(%d)) = %d, %v", id, back, err)
		}
		var b bytes.Buffer
		MarshalID(id).MarshalGQL(&b)
		if b.String() != strconv.Quote(want) {
			t.Errorf("MarshalID(%d) wrote %s, want %s", id, b.String(), strconv.Quote(want))
		}
	}
}
