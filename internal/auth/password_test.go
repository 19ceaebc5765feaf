package auth

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	hash, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("hash format: %s", hash)
	}
	other, _ := HashPassword("correct horse battery")
	if other == hash {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for _, tc := range []struct {
		hash, password string
		want           bool
	}{
		{hash, "correct horse battery", true},
		{hash, "correct horse batterY", false},
		{hash, "", false},
		{strings.Replace(hash, "argon2id", "argon2i", 1), "correct horse battery", false},
		{"$argon2id$v=19$m=65536,t=3,p=2$!!$!!", "correct horse battery", false},
		{"plain", "plain", false},
	} {
		if got := CheckPassword(tc.hash, tc.password); got != tc.want {
			t.Errorf("CheckPassword(%q, %q) = %v", tc.hash, tc.password, got)
		}
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("a 5-character password was accepted")
	}
}
