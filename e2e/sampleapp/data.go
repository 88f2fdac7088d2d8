package sampleapp

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Deterministic demo data. Every value here depends only on the request's
// input (an id, a page, a user), never on the instance or the clock, so the
// only differences between two instances are the noise and, for v2, the
// injected changes.

// mix is splitmix64: a cheap, well-spread hash of an input and a salt.
func mix(x uint64, salt uint64) uint64 {
	z := x + salt*0x9e3779b97f4a7c15 + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Frances", "Dennis", "Radia", "Leslie", "Margaret", "John"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Allen", "Ritchie", "Perlman", "Lamport", "Hamilton", "Backus"}
	tiers      = []string{"bronze", "silver", "gold"}
	statuses   = []string{"pending", "paid", "shipped", "delivered", "cancelled"}
	products   = []string{"Kettle", "Teapot", "Mug", "Grinder", "Scale", "Filter", "Carafe", "Dripper", "Tamper", "Canister"}
	adjectives = []string{"Classic", "Compact", "Deluxe", "Nordic", "Studio", "Travel", "Pro", "Mini"}
	tagWords   = []string{"kitchen", "coffee", "tea", "gift", "bestseller", "steel", "glass", "ceramic"}
	regions    = []string{"north", "south", "east", "west", "central"}
)

// epoch is the origin of the demo's deterministic dates.
var epoch = time.Date(2021, 1, 4, 9, 0, 0, 0, time.UTC)

// MaxUserID is the largest user id that exists; larger ids answer 404.
const MaxUserID = 100000

type user struct {
	ID        int      `json:"id"`
	Name      string   `json:"name"`
	Email     string   `json:"email"`
	Tier      string   `json:"tier"`
	Roles     []string `json:"roles"`
	Phone     string   `json:"phone,omitempty"`  // v2 drops it (a missing field)
	Locale    string   `json:"locale,omitempty"` // v2 adds it (an extra field)
	CreatedAt string   `json:"created_at"`
	Active    bool     `json:"active"`
}

func makeUser(id int, v Variant) user {
	h := mix(uint64(id), 1)
	first := firstNames[h%uint64(len(firstNames))]
	last := lastNames[(h>>8)%uint64(len(lastNames))]
	u := user{
		ID:        id,
		Name:      first + " " + last,
		Email:     fmt.Sprintf("%s.%s%d@example.com", strings.ToLower(first), strings.ToLower(last), id),
		Tier:      tiers[id%len(tiers)],
		Roles:     userRoles(id),
		Phone:     fmt.Sprintf("+1-555-%04d", h%10000),
		CreatedAt: epoch.Add(time.Duration(id) * 37 * time.Hour).Format(time.RFC3339),
		Active:    id%7 != 0,
	}
	if v == V2 {
		if tierChanges(id) {
			u.Tier = "platinum"
		}
		u.Phone = ""
		u.Locale = "en-US"
	}
	return u
}

// tierChanges says which users v2 rates differently: one in ten.
func tierChanges(id int) bool { return id%10 == 3 }

func userRoles(id int) []string {
	roles := []string{"reader", "buyer"}
	if id%2 == 0 {
		roles = append(roles, "seller")
	}
	if id%5 == 0 {
		roles = append(roles, "reviewer")
	}
	return roles
}

type order struct {
	ID        int     `json:"id"`
	User      int     `json:"user"`
	Total     float64 `json:"total"`
	Currency  string  `json:"currency"`
	Status    string  `json:"status"`
	Items     int     `json:"items"`
	CreatedAt any     `json:"created_at"` // RFC 3339 in v1, epoch millis in v2
}

func makeOrders(userID int, v Variant) []order {
	n := 1 + userID%4
	orders := make([]order, 0, n)
	for i := range n {
		id := userID*100 + i + 1
		h := mix(uint64(id), 2)
		created := epoch.Add(time.Duration(userID)*37*time.Hour + time.Duration(i+1)*50*time.Hour + time.Duration(h%3600)*time.Second)
		o := order{
			ID:        id,
			User:      userID,
			Total:     float64(500+h%50000) / 100,
			Currency:  "EUR",
			Status:    statuses[(h>>16)%uint64(len(statuses))],
			Items:     1 + int((h>>24)%5),
			CreatedAt: created.Format(time.RFC3339),
		}
		if v == V2 {
			o.CreatedAt = created.UnixMilli()
		}
		orders = append(orders, o)
	}
	return orders
}

// CatalogPageSize is the number of items per page of GET /catalog/items.
const CatalogPageSize = 20

type item struct {
	SKU   string   `json:"sku"`
	Name  string   `json:"name"`
	Price any      `json:"price"` // a number in v1, a string in v2
	Stock int      `json:"stock"`
	Tags  []string `json:"tags"`
}

func makeItems(page int, v Variant) []item {
	items := make([]item, 0, CatalogPageSize)
	for i := range CatalogPageSize {
		n := (page-1)*CatalogPageSize + i + 1
		h := mix(uint64(n), 3)
		price := float64(299+h%20000) / 100
		it := item{
			SKU:   fmt.Sprintf("SKU-%05d", n),
			Name:  adjectives[h%uint64(len(adjectives))] + " " + products[(h>>8)%uint64(len(products))],
			Price: price,
			Stock: int((h >> 16) % 250),
			Tags:  []string{tagWords[(h>>24)%uint64(len(tagWords))]},
		}
		if n%2 == 0 {
			it.Tags = append(it.Tags, tagWords[(h>>32)%uint64(len(tagWords))])
		}
		if v == V2 {
			it.Price = fmt.Sprintf("%.2f", price)
			if n%3 == 0 {
				it.Tags = append(it.Tags, "eco")
			}
		}
		items = append(items, it)
	}
	return items
}

// featured lists a page's featured SKUs; the handler shuffles them per request.
func featured(page int) []string {
	var skus []string
	for i := range CatalogPageSize {
		n := (page-1)*CatalogPageSize + i + 1
		if n%4 == 1 {
			skus = append(skus, fmt.Sprintf("SKU-%05d", n))
		}
	}
	return skus
}

type reportRow struct {
	Day     string  `json:"day"`
	Region  string  `json:"region"`
	SKU     string  `json:"sku"`
	Units   int     `json:"units"`
	Revenue float64 `json:"revenue"`
}

// reportRows is sized so GET /report is about 1.5 MiB: larger than the
// filter's default max_body_bytes (1 MiB), so its digest is truncated.
const reportRows = 16000

func makeReportRows() []reportRow {
	rows := make([]reportRow, reportRows)
	for i := range rows {
		h := mix(uint64(i), 4)
		rows[i] = reportRow{
			Day:     epoch.AddDate(0, 0, i/40).Format(time.DateOnly),
			Region:  regions[h%uint64(len(regions))],
			SKU:     fmt.Sprintf("SKU-%05d", 1+(h>>8)%2000),
			Units:   int(1 + (h>>20)%40),
			Revenue: math.Round(float64((h>>28)%1000000)) / 100,
		}
	}
	return rows
}

// avatar returns deterministic binary bytes for a user id (a PNG header
// followed by pseudo-random data: enough to be binary, not a real image).
func avatar(id int) []byte {
	b := append(make([]byte, 0, 2048), 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n')
	for i := uint64(0); len(b) < 2048; i++ {
		h := mix(uint64(id)<<20|i, 5)
		for s := 0; s < 64 && len(b) < 2048; s += 8 {
			b = append(b, byte(h>>s))
		}
	}
	return b
}
