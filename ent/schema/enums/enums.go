// Package enums holds the enumerations that more than one entity shares, so that
// GraphQL sees one enum type for them.
package enums

import (
	"fmt"
	"io"
	"strconv"
)

// GrantKind says what a grant gives.
type GrantKind string

const (
	GrantAppRight      GrantKind = "APP_RIGHT"      // an application right on every reachable data set
	GrantDataSet       GrantKind = "DATA_SET"       // access to a data set, or to a node's subtree
	GrantOrgUnit       GrantKind = "ORG_UNIT"       // an organisation unit and everything beneath it
	GrantCompanyRight  GrantKind = "COMPANY_RIGHT"  // a right on one data set, or on all of them
	GrantDashboard     GrantKind = "DASHBOARD"      // access to a management dashboard
	GrantViewableGroup GrantKind = "VIEWABLE_GROUP" // may see the data of a group's members
)

// Values lists every grant kind (ent uses it for the column's enum).
func (GrantKind) Values() []string {
	return []string{string(GrantAppRight), string(GrantDataSet), string(GrantOrgUnit),
		string(GrantCompanyRight), string(GrantDashboard), string(GrantViewableGroup)}
}

func (k GrantKind) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(k))) }

func (k *GrantKind) UnmarshalGQL(v any) error {
	return unmarshalEnum(v, k.Values(), (*string)(k), "GrantKind")
}

// GrantSource says how a user came to hold a direct grant.
type GrantSource string

const (
	SourceManual GrantSource = "MANUAL"
	SourceRole   GrantSource = "ROLE" // copied when a role was applied (SPEC §2.1)
	SourceCSV    GrantSource = "CSV"
	SourceSCIM   GrantSource = "SCIM"
)

func (GrantSource) Values() []string {
	return []string{string(SourceManual), string(SourceRole), string(SourceCSV), string(SourceSCIM)}
}

func (s GrantSource) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(s))) }

func (s *GrantSource) UnmarshalGQL(v any) error {
	return unmarshalEnum(v, s.Values(), (*string)(s), "GrantSource")
}

func unmarshalEnum(v any, values []string, dst *string, name string) error {
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("%s must be a string", name)
	}
	for _, value := range values {
		if value == str {
			*dst = str
			return nil
		}
	}
	return fmt.Errorf("%q is not a valid %s", str, name)
}
